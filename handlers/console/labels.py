"""How audit entries and seal uses read in the console: Chinese labels for actions and
the details worth showing (ids and internal values stay out of the pages)."""

from __future__ import annotations

from core.enterprise import certification as C
from core.enterprise import dashboard as D
from core.enterprise import proofs as P
from core.enterprise import seals as S

AUDIT_ACTIONS = {
    "enterprise.submitted": "提交企业认证", "enterprise.resubmitted": "重新提交企业认证",
    "enterprise.revoked": "撤销企业认证申请", "enterprise.rejected": "企业认证被驳回",
    "enterprise.certified": "企业认证通过", "enterprise.info_changed": "修改企业信息",
    "enterprise.credit_code_override": "平台核对信用代码",
    "phone_code_sent": "发送法定代表人授权码", "face_started": "发起法定代表人刷脸",
    "letter_started": "使用授权委托书", "letter_uploaded": "上传授权委托书",
    "deposit_sent": "发起对公打款", "deposit_expired": "对公打款已过期",
    "attempt_passed": "认证方式通过", "attempt_failed": "认证方式未通过",
    "seal.created": "创建印章", "seal.voided": "作废印章", "seal.enabled": "启用印章",
    "seal.disabled": "停用印章", "seal.image_replaced": "更换印章图片",
    "seal.granted": "印章授权", "seal.grant_revoked": "取消印章授权",
    "seal.auto_sign_on": "开启自动签署", "seal.auto_sign_off": "关闭自动签署",
    "member.added": "添加成员", "member.activated": "成员已激活", "member.updated": "修改成员",
    "member.removed": "移除成员", "member.handover": "转交成员事项",
    "join.requested": "申请加入企业", "join.approved": "通过加入申请",
    "join.rejected": "驳回加入申请", "join.revoked": "撤销加入申请",
    "role.created": "新建角色", "role.updated": "修改角色", "role.deleted": "删除角色",
    "business_type.created": "新增业务类型",
    "admin.changed": "更换主管理员", "admin.appeal_started": "发起管理员申诉",
    "admin.appeal_method_failed": "申诉认证未通过",
    "employee.onboarded": "办理入职", "employee.imported": "Excel 批量导入员工",
    "employee.approved": "入职审核通过", "employee.rejected": "入职审核驳回",
    "employee.bulk_approved": "批量通过入职", "employee.edited": "修改员工信息",
    "employee.transferred": "调动部门", "employee.resigned": "办理离职",
    "employee.link_sent": "发送信息采集链接", "employee.info_submitted": "员工提交入职信息",
    "employee.self_onboarded": "员工扫码入职", "employees.fields_set": "设置入职信息项",
    "employees.qr_created": "生成入职二维码", "employees.qr_reset": "重置入职二维码",
    "department.created": "新建部门", "department.renamed": "重命名部门",
    "department.moved": "移动部门", "department.deleted": "删除部门",
    "contract.created": "创建合同", "contract.sent": "发起合同", "contract.signed": "签署合同",
    "contract.sign_code_sent": "发送签署验证码", "contract.sign_confirmed": "确认签署",
    "contract.sign_failed": "签署失败", "contract.completed": "合同签署完成",
    "contract.rejected": "拒签合同", "contract.revoked": "撤回合同",
    "contract.expired": "合同已过期", "sign": "签署",
    "contract.auto_sign": "自动盖章", "contract.urged": "催办合同",
    "contract.reminded": "自动提醒待签署方", "contract.due_notice": "合同即将截止提醒",
    "contracts.reminders_set": "设置合同自动提醒",
    "contract.auto_sign_withdrawn": "自动盖章已取消，改为人工盖章",
    "certificate.issued": "签发数字证书", "certificate.revoked": "吊销数字证书",
    "signing.granted": "授权签署", "signing.key_unlocked": "启用签署密钥",
    "security.proof_refused": "验证受限（次数已达上限）",
    "security.proof_exhausted": "验证错误次数过多",
    "security.proof_alert": "安全告警：多次验证失败",
    "webhook.created": "添加事件回调地址", "webhook.updated": "修改事件回调地址",
    "webhook.deleted": "删除事件回调地址", "webhook.secret_rotated": "更换回调签名密钥",
    "webhook.redelivered": "重新投递事件", "webhook.auto_disabled": "回调地址持续失败，已自动停用",
    "api_key.created": "创建 API 密钥",
    "api_key.revoked": "吊销 API 密钥",
}
# A seal's uses (storage/models/enterprise.py SealUsage.action).
USAGE_ACTIONS = {"sign": "盖章", "auto_sign": "自动盖章"}
# Details worth showing, by data key; ids and internal values stay out of the page.
AUDIT_DETAILS = {"name": "名称", "reason": "原因", "count": "人数", "credit_code": "信用代码",
                 "method": "方式", "kind": "类型", "phone": "手机号", "account": "账号",
                 "bank": "开户行", "resign_date": "离职日期", "handed_over": "转交事项",
                 "seal": "印章", "authorized_by_name": "自动签署授权人", "title": "合同",
                 "member": "成员", "url": "回调地址", "scope": "权限范围",
                 "signers": "签署方", "number": "第几次", "schedule": "提醒规则"}
DETAIL_VALUES = {**C.METHODS, **S.KINDS, "transfer": "主动转让", "appeal": "申诉",
                  **{k: r.label for k, r in P.RULES.items() if k not in C.METHODS},
                  **P.ALERT_REASONS}


def audit_label(row: D.AuditRow) -> D.AuditLabel:
    """How one audit entry reads in the console and in the exported file. Unknown codes
    read 其他操作."""
    purpose, _, step = row.action.partition(".")
    if purpose in ("certify", "appeal") and step in AUDIT_ACTIONS:
        label = ("管理员申诉：" if purpose == "appeal" else "") + AUDIT_ACTIONS[step]
    else:
        label = AUDIT_ACTIONS.get(row.action, "其他操作")
    details = [f"{AUDIT_DETAILS[k]}：{DETAIL_VALUES.get(str(v), v)}"
               for k, v in row.data.items()
               if k in AUDIT_DETAILS and isinstance(v, str | int) and v != ""]
    actor = row.actor_name or ("其他用户" if row.actor_id else "系统")
    return D.AuditLabel(label, actor, "；".join(details))
