"""Enterprise certification (B1): submit, prove control by one of four methods, finish.

Two state machines: the enterprise (认证中 → 已认证 / 驳回 / 已撤销) and each attempt
(one method, one try). The same attempt flows serve the admin appeal (purpose "appeal",
see admin_change.py). On success the certifier becomes main admin, the built-in roles
and business types exist, and the three seals are created.

One module per part: `states` (machines, methods, limits), `views` (what pages see,
the checked form), `attempts` (shared by every method), `profile` (submit, status,
information changes), one module per proof method (`phone`, `face`, `letter`,
`deposit`) and `review` (the operator's side). Callers use the names re-exported here.
"""

from __future__ import annotations

from core.enterprise.certification.attempts import (
    Subject,
    cancel_attempts_on_expiry,
    complete_if_ready,
)
from core.enterprise.certification.deposit import (
    confirm_deposit,
    parse_amount,
    start_deposit,
)
from core.enterprise.certification.face import (
    face_result,
    start_face,
)
from core.enterprise.certification.letter import (
    letter_pdf,
    start_letter,
    upload_letter,
)
from core.enterprise.certification.phone import (
    confirm_phone,
    start_phone,
)
from core.enterprise.certification.profile import (
    certification_status,
    change_enterprise_info,
    get_attempt,
    licence_image,
    my_enterprises,
    resubmit_enterprise,
    revoke_certification,
    submit_enterprise,
)
from core.enterprise.certification.review import (
    ReviewItem,
    letter_image,
    operator_search,
    override_credit_code,
    pending_letters,
    review_letter,
)
from core.enterprise.certification.states import (
    ATTEMPT_SM,
    ATTEMPT_STATE_LABELS,
    CERTIFICATE_KINDS,
    DEPOSIT_MAX_TRIES,
    DEPOSIT_TTL,
    ENTERPRISE_SM,
    ENTERPRISE_STATE_LABELS,
    FACE_ATTEMPT_TTL,
    LETTER_ATTEMPT_TTL,
    LETTER_MAX_BYTES,
    LICENCE_MAX_BYTES,
    METHODS,
    PHONE_ATTEMPT_TTL,
    SMS_PURPOSE,
    AttemptState,
    EnterpriseState,
)
from core.enterprise.certification.views import (
    AttemptView,
    CleanInput,
    EnterpriseInput,
    EnterpriseView,
    attempt_view,
    clean_input,
    enterprise_view,
)

__all__ = [
    "ATTEMPT_SM",
    "ATTEMPT_STATE_LABELS",
    "CERTIFICATE_KINDS",
    "DEPOSIT_MAX_TRIES",
    "DEPOSIT_TTL",
    "ENTERPRISE_SM",
    "ENTERPRISE_STATE_LABELS",
    "FACE_ATTEMPT_TTL",
    "LETTER_ATTEMPT_TTL",
    "LETTER_MAX_BYTES",
    "LICENCE_MAX_BYTES",
    "METHODS",
    "PHONE_ATTEMPT_TTL",
    "SMS_PURPOSE",
    "AttemptState",
    "AttemptView",
    "CleanInput",
    "EnterpriseInput",
    "EnterpriseState",
    "EnterpriseView",
    "ReviewItem",
    "Subject",
    "attempt_view",
    "cancel_attempts_on_expiry",
    "certification_status",
    "change_enterprise_info",
    "clean_input",
    "complete_if_ready",
    "confirm_deposit",
    "confirm_phone",
    "enterprise_view",
    "face_result",
    "get_attempt",
    "letter_image",
    "letter_pdf",
    "licence_image",
    "my_enterprises",
    "operator_search",
    "override_credit_code",
    "parse_amount",
    "pending_letters",
    "resubmit_enterprise",
    "review_letter",
    "revoke_certification",
    "start_deposit",
    "start_face",
    "start_letter",
    "start_phone",
    "submit_enterprise",
    "upload_letter",
]
