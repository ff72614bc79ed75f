"""One error vocabulary: every refusal has a stable code and a Chinese message for the user.

Handlers map these to 4xx JSON (API) or a friendly page (H5); nothing here is a 500.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    status = 400
    message = "操作未能完成，请稍后重试"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.field = field
        self.retry_after = retry_after
        super().__init__(f"{self.code}: {self.message}")

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross the process pool (signing, rendering): keep code, field and status.
        return (self.__class__, (self.message,), dict(self.__dict__))

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 400
    message = "输入有误，请检查后重试"


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401
    message = "请先登录"


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    message = "您没有权限执行此操作"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    message = "您要找的内容不存在"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    message = "当前状态不允许此操作"


class IllegalTransition(Conflict):
    code = "illegal_transition"
    message = "当前状态不允许此操作"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413
    message = "上传的内容过大"


class UnsupportedMedia(DomainError):
    code = "unsupported_media"
    status = 415
    message = "不支持的文件类型"


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    message = "操作过于频繁，请稍后再试"


class Locked(DomainError):
    code = "locked"
    status = 423
    message = "账号已被暂时锁定，请稍后再试"


class ProviderUnavailable(DomainError):
    code = "provider_unavailable"
    status = 503
    message = "服务暂时不可用，请稍后重试"
