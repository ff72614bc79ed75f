"""All models, imported here so Alembic and create_all see every table."""

from storage.models.accounts import (
    AgreementAcceptance,
    CaptchaChallenge,
    SmsCode,
    User,
    UserSession,
)
from storage.models.archive import ArchiveBatch, ArchiveNumberCounter, PaperArchive
from storage.models.audit import AuditChain, AuditEntry
from storage.models.base import Base, new_id
from storage.models.batches import (
    BatchRow,
    ContractBatch,
    OnboardingTemplate,
    SignTask,
    SignTaskItem,
)
from storage.models.contracts import (
    Contract,
    ContractCc,
    ContractDocument,
    ContractNumberCounter,
    ContractSigner,
    DocumentHash,
    IntentConfirmation,
    SignatureField,
)
from storage.models.enterprise import (
    AdminChange,
    BusinessType,
    CertificationAttempt,
    Department,
    DevBankTransfer,
    Employee,
    Enterprise,
    EnterpriseRole,
    JoinRequest,
    Member,
    PlatformOperator,
    Seal,
    SealGrant,
    SealUsage,
)
from storage.models.evidence import (
    EvidenceExport,
    EvidenceReport,
    PaperCopyRequest,
    SigningDisclosure,
)
from storage.models.identity import IdentityVerification
from storage.models.integration import (
    ApiKey,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventHead,
)
from storage.models.outbox import ConsoleSms, OutboxMessage, PeriodicRun
from storage.models.qr_login import QrLogin
from storage.models.ratelimit import RateEvent
from storage.models.signatures import HandwrittenSignature, SignaturePadToken
from storage.models.signing import Certificate, SigningGrant
from storage.models.templates import Template, TemplateContract, TemplateVersion
from storage.models.wechat import (
    ConsoleWechatMessage,
    WechatBinding,
    WechatConversation,
    WechatCredential,
    WechatInbound,
    WechatScene,
)

__all__ = [
    "AdminChange",
    "AgreementAcceptance",
    "ApiKey",
    "ArchiveBatch",
    "ArchiveNumberCounter",
    "AuditChain",
    "AuditEntry",
    "Base",
    "BatchRow",
    "BusinessType",
    "CaptchaChallenge",
    "Certificate",
    "CertificationAttempt",
    "ConsoleSms",
    "ConsoleWechatMessage",
    "Contract",
    "ContractBatch",
    "ContractCc",
    "ContractDocument",
    "ContractNumberCounter",
    "ContractSigner",
    "Department",
    "DevBankTransfer",
    "DocumentHash",
    "Employee",
    "Enterprise",
    "EnterpriseRole",
    "EvidenceExport",
    "EvidenceReport",
    "HandwrittenSignature",
    "IdentityVerification",
    "IntentConfirmation",
    "JoinRequest",
    "Member",
    "OnboardingTemplate",
    "OutboxMessage",
    "PaperArchive",
    "PaperCopyRequest",
    "PeriodicRun",
    "PlatformOperator",
    "QrLogin",
    "RateEvent",
    "Seal",
    "SealGrant",
    "SealUsage",
    "SignTask",
    "SignTaskItem",
    "SignatureField",
    "SignaturePadToken",
    "SigningDisclosure",
    "SigningGrant",
    "SmsCode",
    "Template",
    "TemplateContract",
    "TemplateVersion",
    "User",
    "UserSession",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookEventHead",
    "WechatBinding",
    "WechatConversation",
    "WechatCredential",
    "WechatInbound",
    "WechatScene",
    "new_id",
]
