"""The evidence report (出证报告) as a PDF: pure layout, bytes out, run in the process
pool. The caller adds the signature field and signs it with the platform's key.

Text is real text in an embedded subset of Noto Sans CJK (core/signing/cjk_pdf.py), so
the report can be searched and copied; hashes are printed in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.contracts.trail import Party, Trail
from core.signing.cjk_pdf import A4, CjkFont, Page, wrap, write_pdf
from core.signing.tokens import SignatureToken

CN = timedelta(hours=8)
LEFT, RIGHT, TOP, BOTTOM = 48.0, 547.0, 800.0, 56.0
WIDTH = RIGHT - LEFT
LABEL_W = 96.0
# Room the platform's signature takes at the end of the last page.
SEAL_BLOCK = 150.0
SIGNATURE_FIELD = "platform_evidence"
MAX_TEXT = 2000


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return (value.astimezone(UTC) + CN).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"


@dataclass(frozen=True)
class ReportInput:
    report_id: str
    generated_at: datetime
    trail: Trail
    tokens: tuple[SignatureToken, ...]
    verify_url: str
    platform_subject: str


@dataclass(frozen=True)
class ReportLayout:
    pdf: bytes
    # Where the platform's signature goes: 0-based page and rectangle in points.
    page: int
    rect: tuple[float, float, float, float]


class _Writer:
    def __init__(self, font: CjkFont, bold: CjkFont) -> None:
        self.font, self.bold = font, bold
        self.pages: list[Page] = []
        self.y = 0.0
        self.new_page()

    def new_page(self) -> None:
        self.pages.append(Page())
        self.y = TOP

    @property
    def page(self) -> Page:
        return self.pages[-1]

    def need(self, height: float) -> None:
        if self.y - height < BOTTOM:
            self.new_page()

    def title(self, text: str, size: float = 18) -> None:
        self.need(size + 10)
        w = self.bold.width(text, size)
        self.page.text("F2", self.bold, size, (A4[0] - w) / 2, self.y - size, text)
        self.y -= size + 12

    def heading(self, text: str) -> None:
        self.need(40)
        self.y -= 8
        self.page.text("F2", self.bold, 12, LEFT, self.y - 12, text)
        self.y -= 17
        self.page.line(LEFT, self.y, RIGHT, self.y, 0.6, 0.3)
        self.y -= 6

    def para(self, text: str, size: float = 9, x: float = LEFT, gray: float = 0.0,
             bold: bool = False) -> None:
        font, key = (self.bold, "F2") if bold else (self.font, "F1")
        for line in wrap(font, size, text[:MAX_TEXT], RIGHT - x) or [""]:
            self.need(size + 4)
            self.page.text(key, font, size, x, self.y - size, line, gray)
            self.y -= size + 4

    def kv(self, label: str, value: str, x: float = LEFT, size: float = 8.5) -> None:
        lines = wrap(self.font, size, (value or "—")[:MAX_TEXT], RIGHT - x - LABEL_W) or [""]
        self.need(size + 4)
        self.page.text("F1", self.font, size, x, self.y - size, label, 0.35)
        for line in lines:
            self.need(size + 4)
            self.page.text("F1", self.font, size, x + LABEL_W, self.y - size, line)
            self.y -= size + 3.5
        self.y -= 1.5

    def gap(self, h: float = 6) -> None:
        self.y -= h


def _party(w: _Writer, n: int, p: Party) -> None:
    kind = "企业" if p.party == "enterprise" else "个人"
    w.para(f"签署方 {n}：{p.name}（{kind}） — {p.state_label}", 10, bold=True)
    x = LEFT + 12
    if p.phone_masked:
        w.kv("手机号", p.phone_masked, x)
    if p.enterprise_check:
        c = p.enterprise_check
        w.kv("企业认证", f"{c.method}；{c.id_masked or ''}；认证时间 {when(c.at)}", x)
    if p.actor_name or p.identity:
        who = "经办人（盖章人）" if p.party == "enterprise" else "签署人"
        w.kv(who, p.actor_name or "—", x)
    if p.identity:
        c = p.identity
        provider = f"，服务方 {c.provider}" if c.provider else ""
        w.kv("身份核验", f"{c.method}{provider}；证件号 {c.id_masked or '—'}；"
                         f"核验时间 {when(c.at)}", x)
    if p.disclosure_accepted_at:
        w.kv("电子签约告知", f"已阅读并确认，{when(p.disclosure_accepted_at)}", x)
    if p.intent:
        i = p.intent
        if i.phone_masked:
            w.kv("意愿认证", f"{i.method}，发送至 {i.phone_masked}", x)
            w.kv("验证码发送", when(i.code_sent_at), x)
            w.kv("验证码确认", when(i.code_entered_at), x)
        else:
            w.kv("意愿认证", f"{i.method}（企业已授权印章自动签署）", x)
        w.kv("IP 地址", i.ip or "—", x)
        w.kv("设备", i.device or "—", x)
        w.kv("签署前文档摘要", i.sha256_before or "—", x)
        w.kv("签署后文档摘要", i.sha256_after or "—", x)
    if p.signed_at:
        w.kv("签署完成", when(p.signed_at), x)
    if p.certificate:
        cert = p.certificate
        w.kv("签名证书", cert.subject, x)
        w.kv("证书序列号", cert.serial, x)
        w.kv("颁发者", cert.issuer, x)
        w.kv("证书有效期", f"{when(cert.not_before)} 至 {when(cert.not_after)}", x)
        w.kv("证书 SHA-256", cert.sha256, x)
    if p.reject_reason:
        w.kv("拒签原因", p.reject_reason, x)
    w.gap(4)


def layout_report(data: ReportInput, font_path: str, font_index: int) -> ReportLayout:
    """The report's pages; runs in the process pool."""
    bold_path = font_path.replace("Regular", "Bold")
    font = CjkFont(font_path, font_index)
    bold = CjkFont(bold_path if Path(bold_path).is_file() else font_path, font_index)
    try:
        return _layout(data, font, bold)
    finally:
        font.close()
        bold.close()


def _layout(data: ReportInput, font: CjkFont, bold: CjkFont) -> ReportLayout:
    t = data.trail
    w = _Writer(font, bold)
    w.title("电子合同出证报告")
    w.para(f"报告编号：{data.report_id}　　出具时间：{when(data.generated_at)}", 9,
           x=LEFT + 60, gray=0.3)
    w.gap(4)
    w.para("本报告由 LaborSign 电子签约平台根据平台保存的签署记录出具，列明合同各签署方的身份"
           "核验、意愿认证、数字签名与可信时间戳、每次签署前后的文档摘要，以及审计链中与本合同"
           "有关的全部记录。本报告以平台数字证书签名并加盖可信时间戳，任何改动都会使签名失效。",
           9)

    w.heading("一、合同信息")
    w.kv("合同名称", t.title)
    w.kv("合同编号", t.number or t.contract_id)
    w.kv("合同 ID", t.contract_id)
    w.kv("发起企业", t.enterprise_name)
    w.kv("文件名", t.filename)
    w.kv("合同状态", t.state_label)
    w.kv("创建时间", when(t.created_at))
    w.kv("发起时间", when(t.sent_at))
    if t.completed_at:
        w.kv("完成时间", when(t.completed_at))
    if t.ended_at and not t.completed_at:
        w.kv("结束时间", when(t.ended_at))
    if t.end_reason:
        w.kv("结束原因", t.end_reason)
    w.kv("当前文件 SHA-256", t.document_sha256)
    w.kv("当前文件版本", str(t.document_version))

    w.heading("二、签署方、身份核验与意愿认证")
    for n, p in enumerate(t.parties, start=1):
        _party(w, n, p)

    w.heading("三、数字签名与可信时间戳")
    if not data.tokens:
        w.para("文件中尚无数字签名。", 9)
    for tok in data.tokens:
        w.para(f"签名 {tok.index}（签名域 {tok.field_name}）", 10, bold=True)
        x = LEFT + 12
        w.kv("签名人证书", tok.signer_subject, x)
        w.kv("证书序列号", tok.signer_serial, x)
        w.kv("签名人声明时间", when(tok.signing_time), x)
        if tok.token_der is not None:
            w.kv("可信时间戳", when(tok.timestamp_time), x)
            w.kv("时间戳服务", tok.tsa_name or "—", x)
        else:
            w.kv("可信时间戳", "无", x)
        w.kv("签名覆盖字节数", str(tok.covered_bytes), x)
        w.kv("签名覆盖内容摘要", tok.signed_range_sha256, x)
        w.gap(3)

    w.heading("四、文档版本与摘要（SHA-256）")
    kinds = {"original": "原始上传文件", "prepared": "添加签署位置后", "signed": "签署后"}
    for v in t.versions:
        w.kv(f"版本 {v.version}", f"{kinds.get(v.kind, v.kind)}，{when(v.at)}")
        w.kv("", v.sha256)

    w.heading("五、审计链记录")
    w.para(f"审计链：企业链 {t.chain}。每条记录的哈希由其内容与上一条记录的哈希计算得出，"
           "删改任一条都会使其后的哈希全部对不上。序号不连续处是同一企业链中"
           "其他合同或事项的记录（本报告只列出与本合同有关的记录）。", 8.5, gray=0.3)
    w.gap(2)
    for e in t.entries:
        w.para(f"#{e.chain_seq}　{when(e.at)}　{e.label}（{e.action}）"
               f"　操作人：{e.actor or '—'}　IP：{e.ip or '—'}", 8.5, bold=True)
        x = LEFT + 12
        if e.detail:
            w.kv("内容", e.detail, x, 7.5)
        w.kv("上一条哈希", e.prev_hash, x, 7.5)
        w.kv("本条哈希", e.hash, x, 7.5)
    if t.entries_cut:
        w.para("（记录过多，其余记录见平台审计日志。）", 8.5, gray=0.3)

    w.heading("六、核验方法")
    w.para(f"1. 在 {data.verify_url} 上传本报告或合同文件，可查看每个数字签名是否有效、"
           "文件在签署后是否被改动。", 9)
    w.para("2. 离线核对：计算合同 PDF 的 SHA-256（如 sha256sum 合同.pdf），应与第一部分"
           "“当前文件 SHA-256”一致；证据包中的 README.txt 说明如何用 OpenSSL 核对时间戳。", 9)
    w.para("3. 也可用 pdfsig、Adobe Reader 等工具在信任平台根证书后查看签名。", 9)

    w.need(SEAL_BLOCK)
    top = w.y - 8
    w.para(f"出证方：LaborSign 电子签约平台（{data.platform_subject}）", 9.5, bold=True)
    w.para(f"出具时间：{when(data.generated_at)}", 9)
    w.para("本报告的数字签名与时间戳见右侧签章。", 9, gray=0.3)
    rect = (RIGHT - 130.0, top - 130.0, RIGHT, top)

    total = len(w.pages)
    for ix, page in enumerate(w.pages, start=1):
        footer = f"电子合同出证报告　报告编号 {data.report_id}　第 {ix} / {total} 页"
        fw = font.width(footer, 7.5)
        page.line(LEFT, 44, RIGHT, 44, 0.4, 0.6)
        page.text("F1", font, 7.5, (A4[0] - fw) / 2, 32, footer, 0.4)
    pdf = write_pdf(w.pages, {"F1": font, "F2": bold}, f"电子合同出证报告 {data.report_id}")
    return ReportLayout(pdf, total - 1, rect)
