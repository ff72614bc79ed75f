"""The demo's labour contract: a filled-in 劳动合同书 in the shape of the 人社部 model text.

Generated, not shipped: a cover, the parties, the nine chapters of the model text
(劳动合同期限 … 其他) with the blanks filled in and underlined, and the signature block
of the last page: 甲方（盖章）with 法定代表人, 乙方（签字）, and a 日期 line under each.
The signature boxes are placed so the stamp covers the signature area and its signing
date (core.signing.seals.with_signing_date) lands right after the printed "日期：".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.signing.cjk_pdf import A4, CjkFont, Page, wrap, write_pdf

MARGIN = 72.0
BODY = 10.5  # 五号
LEADING = 1.8
FOOTER_Y = 40.0

Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class DemoParties:
    enterprise: str
    credit_code: str
    legal_rep: str
    address: str
    employee: str
    employee_id_masked: str
    employee_phone: str


@dataclass(frozen=True)
class DemoContract:
    pdf: bytes
    # 0-based page index of the signature block and the two boxes on it.
    page: int
    enterprise_box: Rect
    employee_box: Rect


def _faces(font_path: str, font_index: int) -> tuple[str, str]:
    """Serif (宋体-like, what contracts are printed in) regular and bold next to the
    configured font where fonts-noto-cjk has them; else the configured font itself."""
    regular = Path(font_path.replace("Sans", "Serif"))
    bold = Path(str(regular).replace("Regular", "Bold"))
    regular_path = str(regular) if regular.is_file() else font_path
    return regular_path, str(bold) if bold.is_file() else regular_path


# A paragraph: (kind, text). Text between braces is a filled-in blank (underlined).
CLAUSES: list[tuple[str, str]] = [
    ("p", "根据《中华人民共和国劳动法》《中华人民共和国劳动合同法》等法律法规政策规定，"
          "甲乙双方遵循合法、公平、平等自愿、协商一致、诚实信用的原则订立本合同。"),
    ("h", "一、劳动合同期限"),
    ("p", "第一条　甲乙双方自用工之日起建立劳动关系，双方约定按下列第{ 1 }种方式确定"
          "劳动合同期限："),
    ("p", "1．固定期限：自{ 2027 }年{ 01 }月{ 01 }日起至{ 2029 }年{ 12 }月{ 31 }日止，"
          "其中，试用期从用工之日起至{ 2027 }年{ 03 }月{ 31 }日止。"),
    ("p", "2．无固定期限：自　　年　　月　　日起至依法解除、终止劳动合同时止。"),
    ("p", "3．以完成一定工作任务为期限：自　　年　　月　　日起至工作任务完成时止。"),
    ("h", "二、工作内容和工作地点"),
    ("p", "第二条　乙方工作岗位是{ 软件测试工程师 }，岗位职责为{ 按测试计划完成产品功能与"
          "性能测试，编写测试报告 }。乙方的工作应达到甲方依法制定的岗位要求和考核标准。"),
    ("p", "第三条　乙方工作地点为{ 浙江省杭州市西湖区文三路 1 号 }。因工作需要出差的，"
          "按甲方依法制定的出差管理制度执行。"),
    ("h", "三、工作时间和休息休假"),
    ("p", "第四条　甲方实行{ 标准工时 }工作制：每日工作时间不超过 8 小时，每周工作时间不超过"
          " 40 小时，每周至少休息一日。"),
    ("p", "第五条　甲方依法安排乙方加班的，应依法安排补休或支付加班工资。乙方依法享有法定"
          "节假日、带薪年休假、婚丧假、产假等假期。"),
    ("h", "四、劳动报酬"),
    ("p", "第六条　乙方的月工资为{ 8,000 }元（税前），试用期期间的月工资为{ 7,200 }元"
          "（税前），不低于本市最低工资标准。"),
    ("p", "第七条　甲方每月{ 10 }日前以货币形式足额支付乙方上月工资，不得克扣或者无故拖欠。"
          "甲方可根据经营状况和乙方工作表现依法调整工资。"),
    ("h", "五、社会保险和福利待遇"),
    ("p", "第八条　甲乙双方依法参加社会保险，甲方为乙方办理有关社会保险手续，并承担相应社会"
          "保险义务，乙方个人缴纳部分由甲方依法代扣代缴。甲方依法为乙方缴存住房公积金。"),
    ("p", "第九条　乙方患病或非因工负伤、因工负伤或患职业病的待遇，按国家和本省有关规定执行。"),
    ("h", "六、劳动保护、劳动条件和职业危害防护"),
    ("p", "第十条　甲方按照国家和本省有关劳动保护规定，提供符合国家安全卫生标准的劳动作业场所"
          "和必要的劳动防护用品，建立健全生产工艺流程，制定操作规程和工作规范。"),
    ("p", "第十一条　甲方依法建立安全生产制度。乙方严格遵守甲方依法制定的劳动安全制度，"
          "严禁违章作业，防止劳动过程中的事故，减少职业危害。"),
    ("h", "七、劳动合同的变更、解除和终止"),
    ("p", "第十二条　甲乙双方协商一致，可以变更劳动合同约定的内容，变更劳动合同应当采用书面"
          "形式（含数据电文）。"),
    ("p", "第十三条　经甲乙双方协商一致，可以解除劳动合同。乙方提前 30 日以书面形式通知甲方，"
          "可以解除劳动合同；乙方在试用期内提前 3 日通知甲方，可以解除劳动合同。甲方解除、"
          "终止劳动合同的，应当依法出具解除或终止劳动合同的证明，并依法支付经济补偿。"),
    ("h", "八、双方约定事项"),
    ("p", "第十四条　乙方工作涉及甲方商业秘密和与知识产权相关的保密事项的，甲乙双方可以另行"
          "签订保密协议。"),
    ("p", "第十五条　甲方出资对乙方进行专业技术培训的，双方可以另行签订培训协议，约定服务期。"),
    ("h", "九、其他"),
    ("p", "第十六条　本合同中记载的乙方联系电话、通讯地址为劳动合同期内通知相关事项和送达书面"
          "文书的联系方式、送达地址。双方就本合同发生争议的，可以协商解决，也可以依法申请调解、"
          "仲裁或提起诉讼。"),
    ("p", "第十七条　本合同以数据电文形式订立，甲乙双方以可靠的电子签名签署，与手写签名或者"
          "盖章具有同等法律效力。本合同自双方签署之日起生效，双方各自下载留存。"),
    ("p", "（以下无正文）"),
]


class _Layout:
    """Flows paragraphs onto A4 pages with a running page footer."""

    def __init__(self, body: CjkFont, bold: CjkFont) -> None:
        self.fonts = {"F1": body, "F2": bold}
        self.body, self.bold = body, bold
        self.pages: list[Page] = []
        self.y = 0.0
        self.new_page()

    @property
    def page(self) -> Page:
        return self.pages[-1]

    def new_page(self) -> None:
        self.pages.append(Page())
        self.y = A4[1] - MARGIN

    def room(self, height: float) -> None:
        if self.y - height < MARGIN + 10:
            self.new_page()

    def centered(self, text: str, size: float, bold: bool = True, gap: float = 0.0) -> None:
        font, key = (self.bold, "F2") if bold else (self.body, "F1")
        self.room(size * LEADING + gap)
        self.y -= size + gap
        self.page.text(key, font, size, (A4[0] - font.width(text, size)) / 2, self.y, text)
        self.y -= size * (LEADING - 1)

    def heading(self, text: str) -> None:
        self.room(BODY * LEADING * 3)
        self.y -= BODY * 0.9
        self.y -= BODY * LEADING
        self.page.text("F2", self.bold, BODY + 0.5, MARGIN, self.y, text)

    def paragraph(self, text: str, indent: bool = True) -> None:
        """Wrapped text; {…} marks a filled-in blank, drawn underlined."""
        plain, marks, inside = "", [], False
        for char in text:
            if char in "{}":
                inside = char == "{"
                continue
            plain += char
            marks.append(inside)
        first = "　　" if indent else ""
        lines = wrap(self.body, BODY, first + plain, A4[0] - 2 * MARGIN)
        offset = -len(first)
        for line in lines:
            self.room(BODY * LEADING)
            self.y -= BODY * LEADING
            self.page.text("F1", self.body, BODY, MARGIN, self.y, line)
            x = MARGIN
            for i, char in enumerate(line):
                width = self.body.width(char, BODY)
                at = offset + i
                if 0 <= at < len(marks) and marks[at]:
                    self.page.line(x, self.y - 2.2, x + width, self.y - 2.2, 0.6)
                x += width
            offset += len(line)

    def field(self, label: str, value: str, x: float = MARGIN) -> None:
        self.room(BODY * LEADING)
        self.y -= BODY * LEADING
        self.page.text("F1", self.body, BODY, x, self.y, label)
        start = x + self.body.width(label, BODY)
        self.page.text("F1", self.body, BODY, start + 4, self.y, value)
        self.page.line(start, self.y - 2.2, A4[0] - MARGIN, self.y - 2.2, 0.6)

    def footers(self) -> None:
        total = len(self.pages)
        for number, page in enumerate(self.pages, 1):
            text = f"第 {number} 页　共 {total} 页"
            page.text("F1", self.body, 9, (A4[0] - self.body.width(text, 9)) / 2, FOOTER_Y,
                      text, gray=0.35)


def demo_contract_pdf(parties: DemoParties, *, font_path: str, font_index: int = 2) -> DemoContract:
    regular, bold = _faces(font_path, font_index)
    body, heavy = CjkFont(regular, font_index), CjkFont(bold, font_index)
    try:
        return _lay_out(parties, body, heavy)
    finally:
        body.close()
        heavy.close()


def _lay_out(parties: DemoParties, body: CjkFont, heavy: CjkFont) -> DemoContract:
    out = _Layout(body, heavy)

    # Cover
    out.y = A4[1] - 110
    out.page.text("F1", body, 10.5, A4[0] - MARGIN - body.width("编号：LS-2027-0001", 10.5),
                  out.y, "编号：LS-2027-0001")
    out.y = A4[1] - 250
    out.centered("劳 动 合 同 书", 30)
    out.centered("（通用）", 14, bold=False, gap=6)
    out.y = A4[1] - 470
    for label, value in (("甲方（用人单位）：", parties.enterprise),
                         ("乙方（劳动者）：", parties.employee),
                         ("签订日期：", "以双方电子签名时间为准")):
        out.field(label, value, x=MARGIN + 40)
        out.y -= 16
    out.y = MARGIN + 80
    out.centered("参照人力资源社会保障部劳动合同（通用）示范文本制作", 10.5, bold=False)
    out.centered("LaborSign 演示样本", 9, bold=False)

    # Parties
    out.new_page()
    out.centered("劳动合同书", 18)
    out.y -= 6
    for label, value in (
        ("甲方（用人单位）：", parties.enterprise),
        ("统一社会信用代码：", parties.credit_code),
        ("法定代表人（主要负责人）或委托代理人：", parties.legal_rep),
        ("注册地址：", parties.address),
        ("联系电话：", "0571-8888 0000"),
    ):
        out.field(label, value)
    out.y -= 10
    for label, value in (
        ("乙方（劳动者）：", parties.employee),
        ("居民身份证号码：", parties.employee_id_masked),
        ("经常居住地（通讯地址）：", "浙江省杭州市西湖区天目山路 100 号"),
        ("联系电话：", parties.employee_phone),
    ):
        out.field(label, value)
    out.y -= 6

    for kind, text in CLAUSES:
        if kind == "h":
            out.heading(text)
        else:
            out.paragraph(text)

    # Signature block: 甲方 left, 乙方 right. Under 甲方 the legal representative, then the
    # seal's box; under 乙方 the signature's box. Each box reaches down to its 日期 line:
    # the stamped date (core.signing.seals.with_signing_date) follows the printed "日期：".
    block = 200.0
    pages = len(out.pages)
    out.room(block + 50)
    if len(out.pages) > pages:  # the block starts a page of its own: say whose
        out.centered("（本页为《劳动合同书》签署页，无正文）", BODY, bold=False)
    top = out.y - 30
    left, right = MARGIN, A4[0] / 2 + 20
    date_label = "日期："
    label_w = body.width(date_label, BODY)
    bottom = top - block
    page = out.page
    page.text("F2", heavy, BODY + 0.5, left, top, "甲方（盖章）：")
    page.text("F1", body, BODY, left, top - BODY * LEADING, "法定代表人（主要负责人）")
    rep_y = top - 2 * BODY * LEADING
    page.text("F1", body, BODY, left, rep_y, "或委托代理人（签字）：")
    page.text("F1", body, BODY, left + body.width("或委托代理人（签字）：", BODY) + 4, rep_y,
              parties.legal_rep)
    page.text("F2", heavy, BODY + 0.5, right, top, "乙方（签字）：")
    ent_box = (left + label_w, bottom, left + label_w + 122, rep_y - 8)  # a 4.2 cm seal
    emp_box = (right + label_w, bottom, right + label_w + 160, bottom + 100)
    # The date's line is the box's bottom 15.75 pt (1.5 × 10.5 pt), its text centred there;
    # the label's baseline matches (the face's middle sits 0.44 em above its baseline).
    for x, box in ((left, ent_box), (right, emp_box)):
        page.text("F1", body, BODY, x, box[1] + 1 + BODY * 0.75 - BODY * 0.44, date_label)
    out.footers()
    pdf = write_pdf(out.pages, out.fonts, "劳动合同书")
    return DemoContract(pdf, len(out.pages) - 1, ent_box, emp_box)
