"""What pages and the API see of an enterprise and an attempt, and the checked input of the
certification form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.enterprise.certification.states import (
    ATTEMPT_STATE_LABELS,
    CERTIFICATE_KINDS,
    DEPOSIT_MAX_TRIES,
    ENTERPRISE_STATE_LABELS,
    METHODS,
)
from core.errors import (
    InvalidInput,
)
from core.validators import (
    check_person_name,
    normalize_id_card,
    uscc_check_ok,
    uscc_format_ok,
)
from storage.models import (
    CertificationAttempt,
    Enterprise,
)

# ---------------------------------------------------------------- views


@dataclass(frozen=True)
class AttemptView:
    id: str
    enterprise_id: str
    purpose: str
    method: str
    method_label: str
    state: str
    state_label: str
    tries: int
    tries_left: int | None
    expires_at: datetime | None
    review_reason: str | None
    data: dict[str, object]
    created_at: datetime


@dataclass(frozen=True)
class EnterpriseView:
    id: str
    name: str
    credit_code: str
    credit_code_check_ok: bool
    credit_code_overridden: bool
    address: str
    legal_rep_name: str
    legal_rep_id_masked: str
    certificate_kind: str
    state: str
    state_label: str
    rejection_reason: str | None
    certifier_id: str
    main_admin_id: str | None
    certified_at: datetime | None
    was_certified: bool
    has_licence: bool
    certificate_id: str | None
    created_at: datetime

    @property
    def waiting_for_code_check(self) -> bool:
        return not self.credit_code_check_ok and not self.credit_code_overridden


def enterprise_view(ent: Enterprise) -> EnterpriseView:
    return EnterpriseView(
        ent.id, ent.name, ent.credit_code, ent.credit_code_check_ok,
        ent.credit_code_override_by is not None, ent.address, ent.legal_rep_name,
        ent.legal_rep_id_masked, ent.certificate_kind, ent.state,
        ENTERPRISE_STATE_LABELS[ent.state], ent.rejection_reason, ent.certifier_id,
        ent.main_admin_id, ent.certified_at, ent.certified_at is not None,
        ent.licence_file is not None, ent.certificate_id, ent.created_at,
    )


def attempt_view(a: CertificationAttempt) -> AttemptView:
    public = {k: v for k, v in (a.data or {}).items() if not k.startswith("_")}
    tries_left = DEPOSIT_MAX_TRIES - a.tries if a.method == "micro_deposit" else None
    return AttemptView(
        a.id, a.enterprise_id, a.purpose, a.method, METHODS[a.method], a.state,
        ATTEMPT_STATE_LABELS[a.state], a.tries, tries_left, a.expires_at, a.review_reason,
        public, a.created_at,
    )


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class EnterpriseInput:
    name: str
    credit_code: str
    address: str
    legal_rep_name: str
    legal_rep_id_number: str
    certificate_kind: str = "cloud"


@dataclass(frozen=True)
class CleanInput:
    name: str
    credit_code: str
    check_ok: bool
    address: str
    legal_rep_name: str
    legal_rep_id_number: str
    certificate_kind: str


def clean_input(data: EnterpriseInput, *, accept_check_warning: bool) -> CleanInput:
    name = (data.name or "").strip()
    if not 2 <= len(name) <= 100:
        raise InvalidInput("请输入营业执照上的企业名称", code="invalid_enterprise_name",
                           field="name")
    code = (data.credit_code or "").strip().upper()
    if not uscc_format_ok(code):
        raise InvalidInput("统一社会信用代码应为 18 位数字或大写字母", code="invalid_credit_code",
                           field="credit_code")
    check_ok = uscc_check_ok(code)
    if not check_ok and not accept_check_warning:
        raise InvalidInput(
            "统一社会信用代码校验位不符，请核对营业执照。如确认无误，请勾选“确认无误”后继续提交，"
            "平台将人工核对。",
            code="credit_code_check_warning", field="credit_code",
        )
    address = (data.address or "").strip()
    if not 4 <= len(address) <= 200:
        raise InvalidInput("请输入企业地址", code="invalid_address", field="address")
    rep_name = check_person_name(data.legal_rep_name)
    rep_id = normalize_id_card(data.legal_rep_id_number, field="legal_rep_id_number")
    if data.certificate_kind not in CERTIFICATE_KINDS:
        raise InvalidInput("请选择证书类型", code="invalid_certificate_kind",
                           field="certificate_kind")
    return CleanInput(name, code, check_ok, address, rep_name, rep_id, data.certificate_kind)
