"""The first ten minutes, as a newcomer lives them: the README's run command on a free port,
then everything by tapping, from `/`.

`scripts/run.sh --port P` starts the product with nothing but environment variables to keep
it apart (a fresh database and var dir) and no base URL, so every address must follow the
port. An HR officer registers, passes the real-name check by face on the dev provider's
page, certifies an enterprise by the legal representative's face, grants herself the
contract seal, uploads a PDF under 发起合同, places the seal's and the employee's boxes and
sends it. The employee taps the link in the SMS, registers, verifies by face, draws a
signature on the pad and signs with the SMS code; HR seals with hers; both see 已完成 and
the downloaded PDF's two signatures are valid to pdfsig (trusting only the product's root).

The whole story runs on a phone (390×844, touch) and on a PC (1366×768, mouse). Pages are
reached by clicks only: `goto` is used for `/` and for the link the employee receives by
SMS, read like every code from the dev SMS inbox opened from the dev bar.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.signing.samples import sample_contract_pdf
from tests.conftest import PG_URL
from tests.e2e.conftest import PHONE, free_port
from tests.e2e.test_console import licence_png
from tests.e2e.test_signing_flow import _draw_signature
from tests.enterprise_factories import credit_code, id_number

# The product's database is the test PostgreSQL database in that pass (asked for late).
pytestmark = pytest.mark.database
REPO = Path(__file__).resolve().parents[2]
PC = {"viewport": {"width": 1366, "height": 768}, "locale": "zh-CN"}
DEVICES = {"phone": PHONE, "pc": PC}
WAIT_MS = 90_000  # the machine is shared: generous, never a sleep
START_SECONDS = 600  # the first run of scripts/run.sh installs the Python packages

HR_PHONE = "13712370001"
EMPLOYEE_PHONE = "13712370002"
PASSWORD = "Lab0r-Sign"
HR_NAME, EMPLOYEE_NAME = "王晓燕", "刘小红"
ENTERPRISE = "杭州十分钟劳务科技有限公司"
TITLE = "劳动合同（刘小红）"


# -- the product, as the README runs it


@dataclass
class Product:
    url: str
    log_path: Path

    def printed(self) -> str:
        return self.log_path.read_text(errors="replace")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl+C's polite cousin for the whole group (run.sh and anything it started), reaped."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait()


@pytest.fixture
def product(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Product]:
    """`scripts/run.sh --port P` from the repository root. Only environment variables keep
    it apart: its own database (an empty SQLite file it migrates itself, or the test
    PostgreSQL database), var dir, files and CA. No LABORSIGN_* from the caller's shell, and
    above all no base URL: links, redirects and the built-in TSA must follow --port."""
    port = free_port()
    var = tmp_path / "var"
    database = (request.getfixturevalue("db_url") if PG_URL
                else f"sqlite+aiosqlite:///{tmp_path / 'laborsign.db'}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABORSIGN_")}
    env.update({
        "LABORSIGN_DATABASE_URL": database,
        "LABORSIGN_SERVER_VAR_DIR": str(var),
        "LABORSIGN_STORAGE_FILE_DIR": str(var / "files"),
        "LABORSIGN_SIGNING_CA_DIR": str(var / "ca"),
        # A register code and a signing code to one phone within the minute.
        "LABORSIGN_SMS_PER_PHONE_INTERVAL_SECONDS": "1",
    })
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(REPO / "scripts" / "run.sh"), "--port", str(port)], cwd=REPO, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    product = Product(url, log_path)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("scripts/run.sh did not start:\n" + product.printed()[-3000:])
            time.sleep(0.3)
        # The first-run printout names the address really listened on.
        assert f"open {url}/" in product.printed(), product.printed()[-2000:]
        yield product
    finally:
        _stop(proc)


# -- a person's phone and hands


class Inbox:
    """The dev SMS inbox standing in for a person's phone: a tab opened from the dev bar,
    filtered to their number; refreshed by its 筛选 button."""

    def __init__(self, page, number: str) -> None:
        self.page, self.number = page, number

    @classmethod
    async def open(cls, context, url: str, number: str) -> Inbox:
        page = await context.new_page()
        await page.goto(url + "/")
        await page.click("footer.devbar >> text=短信收件箱")
        await page.wait_for_url(re.compile(r".*/dev/sms$"))
        await page.fill("input[name=phone]", number)
        await page.click("form.card button")
        await page.wait_for_url(re.compile(rf".*/dev/sms\?phone={number}$"))
        return cls(page, number)

    async def count(self) -> int:
        await self.page.click("form.card button")
        await self.page.wait_for_load_state()
        return await self.page.locator("article.sms").count()

    async def next_message(self, seen: int, seconds: float = 90.0) -> tuple[str, str | None]:
        """(text, code) of the newest message once there are more than `seen`."""
        deadline = time.monotonic() + seconds
        while await self.count() <= seen:
            assert time.monotonic() < deadline, f"no new SMS to {self.number}"
            await self.page.wait_for_timeout(300)
        newest = self.page.locator("article.sms").first
        text = (await newest.locator("p").first.inner_text()).strip()
        code = newest.locator("strong.code")
        return text, (await code.inner_text()).strip() if await code.count() else None

    async def next_code(self, seen: int, seconds: float = 90.0) -> str:
        """The newest code among the messages after the first `seen`. Notices (a contract
        to sign) go out on their own job queue, so one may land after the code."""
        deadline = time.monotonic() + seconds
        while True:
            fresh = await self.count() - seen
            for i in range(max(fresh, 0)):
                code = self.page.locator("article.sms").nth(i).locator("strong.code")
                if await code.count():
                    return (await code.inner_text()).strip()
            assert time.monotonic() < deadline, f"no new SMS code to {self.number}"
            await self.page.wait_for_timeout(300)


async def new_context(browser, device: dict):
    context = await browser.new_context(**device)
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    return context


# Every image on the page loaded, the lazy ones too; the sources of any that failed.
LOAD_IMAGES = """async () => {
  const images = [...document.images];
  await Promise.all(images.map(img => {
    img.loading = "eager";
    return img.complete ? null : new Promise(done => {
      img.addEventListener("load", done); img.addEventListener("error", done); });
  }));
  return images.filter(img => !img.naturalWidth).map(img => img.src);
}"""


async def top_shot(shot, page, name: str) -> None:
    """A full-page screenshot as the page really is: every image in, from the top (a
    scrolled page's shot repeats the sticky top bar)."""
    broken = await asyncio.wait_for(page.evaluate(LOAD_IMAGES), WAIT_MS / 1000)
    assert broken == [], f"{page.url}: images that do not load: {broken}"
    await page.evaluate("window.scrollTo(0, 0)")
    await shot(page, name)


async def drag(page, frame, start: tuple[float, float], end: tuple[float, float],
               touch: bool) -> None:
    """Draw a box on a page image: a finger on the phone, the mouse on the PC."""
    await frame.scroll_into_view_if_needed()
    box = await frame.bounding_box()
    assert box is not None

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    (x0, y0), (x1, y1) = at(*start), at(*end)
    if not touch:
        await page.mouse.move(x0, y0)
        await page.mouse.down()
        await page.mouse.move(x1, y1, steps=6)
        await page.mouse.up()
        return
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Input.dispatchTouchEvent",
                   {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    for step in range(1, 7):
        t = step / 6
        point = {"x": x0 + (x1 - x0) * t, "y": y0 + (y1 - y0) * t}
        await cdp.send("Input.dispatchTouchEvent",
                       {"type": "touchMove", "touchPoints": [point]})
    await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    await cdp.detach()


async def draw_with_mouse(page) -> None:
    box = await page.locator("#pad-canvas").bounding_box()
    assert box is not None
    strokes = [
        [(0.10, 0.70), (0.20, 0.25), (0.30, 0.75), (0.40, 0.30), (0.50, 0.70)],
        [(0.55, 0.45), (0.70, 0.40), (0.85, 0.50), (0.92, 0.35)],
    ]
    for stroke in strokes:
        points = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
                  for fx, fy in stroke]
        await page.mouse.move(*points[0])
        await page.mouse.down()
        for (_, _), (x1, y1) in itertools.pairwise(points):
            await page.mouse.move(x1, y1, steps=8)
        await page.mouse.up()


async def register(page, inbox: Inbox, shot, who: str) -> None:
    """On the register page: phone, the SMS code, a password, the agreements."""
    await page.wait_for_url(re.compile(r".*/register(\?.*)?$"))
    await page.fill("#f-phone", inbox.number)
    seen = await inbox.count()
    await page.click("[data-send-code]")
    await page.locator("main .alert", has_text="验证码已发送至").wait_for()
    await page.fill("#f-code", await inbox.next_code(seen))
    await page.fill("#f-password", PASSWORD)
    await page.fill("#f-password_confirm", PASSWORD)
    await page.check("#f-agree")
    await top_shot(shot, page, f"{who}-register-filled")
    await page.click("form button[type=submit].btn-block")
    await page.wait_for_url(lambda u: "/register" not in u)


async def verify_by_face(page, shot, who: str, name: str, number: str) -> None:
    """The real-name form with 人脸识别, the dev provider's liveness page, and back."""
    await page.wait_for_selector("#identity-form")
    await page.fill("#f-name", name)
    await page.fill("#f-id-number", number)
    assert await page.input_value("#f-phone")  # the account's phone, filled in
    await page.check("input[name=method][value=face]")
    await page.check("input[name=notice_personal_info]")
    await page.check("input[name=notice_biometric]")
    await top_shot(shot, page, f"{who}-identity-form")
    await page.click("#identity-form button[type=submit]")
    await page.wait_for_url(re.compile(r".*/dev/identity/face/.*"))
    await shot(page, f"{who}-provider-face-page")
    await page.click("#start-face")


# -- the story


@pytest.mark.parametrize("device", ["phone", "pc"])
async def test_first_ten_minutes(product: Product, browser, shot, output_dir: Path,
                                 tmp_path: Path, device: str) -> None:
    url, touch = product.url, device == "phone"
    here = re.escape(url)  # every page at the address really listened on
    pdf_file = tmp_path / "劳动合同.pdf"
    pdf_file.write_bytes(sample_contract_pdf(3))

    # -- HR: register, verify, certify
    hr_ctx = await new_context(browser, DEVICES[device])
    hr_inbox = await Inbox.open(hr_ctx, url, HR_PHONE)
    hr = await hr_ctx.new_page()
    await hr.goto(url + "/")
    await shot(hr, "hr-welcome")
    await hr.click("main >> text=注册")
    await register(hr, hr_inbox, shot, "hr")
    await hr.wait_for_selector("text=去实名认证")
    await top_shot(shot, hr, "hr-home-registered")

    await hr.click("text=去实名认证")
    await verify_by_face(hr, shot, "hr", HR_NAME, id_number("201", "19880512"))
    await hr.wait_for_url(re.compile(here + r"/identity$"))
    await hr.locator(".identity-status[data-state=verified]").wait_for()
    await top_shot(shot, hr, "hr-verified")
    await hr.click("text=返回首页")
    await hr.wait_for_selector(f"text=您好，{HR_NAME}")
    await top_shot(shot, hr, "hr-home-verified")

    await hr.click("#home-enterprise a[href='/console']")
    await hr.wait_for_url(f"{url}/console")
    await top_shot(shot, hr, "hr-console-empty")
    await hr.click("text=认证新企业")
    await hr.wait_for_url(f"{url}/console/certify/new")
    await hr.fill("#f-name", ENTERPRISE)
    await hr.fill("#f-code", credit_code("91330106MA2C5D6E7"))
    await hr.fill("#f-addr", "浙江省杭州市西湖区文三路 90 号")
    await hr.fill("#f-rep", "李建国")
    await hr.fill("#f-repid", id_number("456", "19750412"))
    await hr.set_input_files("#f-lic", files=[{
        "name": "营业执照.png", "mimeType": "image/png", "buffer": licence_png()}])
    await hr.select_option("#f-kind", "cloud")
    await top_shot(shot, hr, "hr-certify-form")
    await hr.click("form[action='/console/certify/new'] button[type=submit]")
    await hr.wait_for_url(re.compile(here + r"/console/certify/[0-9a-f]{32}\?ok=submitted$"))
    await top_shot(shot, hr, "hr-certify-methods")
    # The legal representative's face on the provider's page (the dev provider passes it).
    await hr.click("form[action$='/face'] button[type=submit]")
    await hr.wait_for_url(re.compile(here + r"/dev/identity/face/.*"))
    await shot(hr, "hr-legal-rep-face-page")
    await hr.click("#start-face")
    await hr.locator(".badge-ok", has_text="已通过").wait_for()
    await top_shot(shot, hr, "hr-legal-rep-face-passed")
    await hr.click("text=查看企业状态")
    await hr.locator("h2 .badge-ok", has_text="已认证").wait_for()
    await top_shot(shot, hr, "hr-enterprise-certified")
    await hr.click("text=进入企业控制台")
    await hr.wait_for_url(re.compile(here + r"/console/e/[0-9a-f]{32}$"))
    ent = hr.url.rsplit("/", 1)[1]
    nav = hr.locator("nav.console-nav")
    await top_shot(shot, hr, "hr-dashboard")

    # -- HR: the contract seal to herself
    await nav.locator('text="印章"').click()
    await hr.wait_for_url(f"{url}/console/e/{ent}/seals")
    deadline = time.monotonic() + 60
    while await hr.locator("img.seal-thumb").count() < 3:  # drawn by a job after certifying
        assert time.monotonic() < deadline, "the seal images were not drawn"
        await hr.wait_for_timeout(500)
        await hr.reload()
    await top_shot(shot, hr, "hr-seals")
    await hr.locator("#seal-table tbody tr", has_text="合同章").locator("text=管理").click()
    await hr.wait_for_url(re.compile(here + rf"/console/e/{ent}/seals/[0-9a-f]{{32}}$"))
    grant = hr.locator("form:has(button[value=grant])")
    assert HR_NAME in await grant.locator("select[name=member_id]").inner_text()
    await grant.locator("select[name=member_id]").select_option(label=HR_NAME)
    await grant.locator("button[value=grant]").click()
    await hr.locator("section.card", has_text="授权成员").locator("li", has_text=HR_NAME).wait_for()
    await top_shot(shot, hr, "hr-contract-seal-granted")

    # -- HR: 发起合同 — upload, place the boxes, send
    await nav.locator('text="发起合同"').click()
    await hr.wait_for_url(re.compile(here + rf"/console/contracts/new\?ent={ent}$"))
    await hr.fill("input[name=title]", TITLE)
    await hr.set_input_files("input[name=file]", str(pdf_file))
    await top_shot(shot, hr, "hr-upload")
    await hr.click("button[type=submit].btn-block")
    await hr.wait_for_url(re.compile(here + r"/console/contracts/[0-9a-f]{32}/edit$"))
    contract_id = hr.url.split("/")[-2]
    page3 = hr.locator("figure[data-page='3'] .doc-frame")
    await page3.scroll_into_view_if_needed()
    await hr.evaluate(LOAD_IMAGES)  # the page's text in view before placing boxes on it
    # The seal's box over "Employer (seal):", the employee's over "Employee (signature):".
    await hr.check("input[name=active_row][value='0']")
    await drag(hr, page3, (0.12, 0.70), (0.40, 0.86), touch)
    assert (await hr.input_value("#boxes_0")).startswith("3,")
    await hr.fill("input[name=name_1]", EMPLOYEE_NAME)
    await hr.fill("input[name=phone_1]", EMPLOYEE_PHONE)
    await hr.check("input[name=active_row][value='1']")
    await drag(hr, page3, (0.56, 0.70), (0.84, 0.80), touch)
    assert (await hr.input_value("#boxes_1")).startswith("3,")
    assert await hr.locator(".doc-box-new").count() == 2
    await top_shot(shot, hr, "hr-boxes-placed")
    await hr.click("#send-contract")
    await hr.wait_for_url(re.compile(here + rf"/contracts/{contract_id}\?done=sent$"))
    await top_shot(shot, hr, "hr-sent")

    # -- the employee: the SMS link, register, verify, draw, sign
    emp_ctx = await new_context(browser, DEVICES[device])
    emp_inbox = await Inbox.open(emp_ctx, url, EMPLOYEE_PHONE)
    text, _ = await emp_inbox.next_message(0)
    assert ENTERPRISE in text and TITLE in text, text
    link = emp_inbox.page.locator("article.sms").first.locator("a")
    # The link follows the port really listened on (a base URL left at :8080 would not).
    assert await link.get_attribute("href") == f"{url}/contracts/{contract_id}", text
    await shot(emp_inbox.page, "employee-sms-invitation")
    async with emp_ctx.expect_page() as opened:
        await link.click()  # an SMS link opens in the browser
    emp = await opened.value
    await emp.wait_for_url(re.compile(here + r"/login\?next=.*"))
    await top_shot(shot, emp, "employee-link-asks-to-log-in")
    await emp.click("main >> text=注册")
    await register(emp, emp_inbox, shot, "employee")
    await emp.wait_for_url(f"{url}/contracts/{contract_id}")
    await top_shot(shot, emp, "employee-reads-contract")

    # 去签署: the real-name check first, then straight back to signing (我的签名 first).
    await emp.click("#go-sign")
    await emp.wait_for_url(re.compile(here + r"/identity\?next=.*"))
    await emp.locator("#identity-return").wait_for()
    await verify_by_face(emp, shot, "employee", EMPLOYEE_NAME, id_number("202", "19960821"))
    await emp.wait_for_url(re.compile(here + r"/me/signatures\?next=.*"))
    await top_shot(shot, emp, "employee-verified-chooses-a-signature")
    await emp.click("#draw-here")
    await emp.wait_for_url(re.compile(here + r"/me/signatures/new\?next=.*"))
    await emp.locator("#pad-canvas").wait_for()
    assert ("手指" if touch else "鼠标") in await emp.inner_text("main")  # how to write here
    if touch:
        await _draw_signature(emp)
    else:
        await draw_with_mouse(emp)
    await shot(emp, "employee-pad-drawn")
    await emp.click("#pad-submit")
    # The signing disclosure (告知), once, before the first signing.
    await emp.wait_for_url(f"{url}/contracts/{contract_id}/disclosure")
    await top_shot(shot, emp, "employee-disclosure")
    await emp.check("#disclosure-agree")
    await emp.click("#disclosure-accept")
    await emp.wait_for_url(f"{url}/contracts/{contract_id}/sign")
    await top_shot(shot, emp, "employee-sign-page")
    seen = await emp_inbox.count()
    await emp.click("#sign-start")
    await emp.locator("#sign-code").wait_for()
    await emp.locator(".doc-box-mine .doc-stamp").first.wait_for()
    await top_shot(shot, emp, "employee-code-and-preview")
    await emp.fill("#sign-code", await emp_inbox.next_code(seen))
    await emp.click("#sign-confirm")
    await emp.locator("#sign-result").wait_for()
    assert "签署成功" in await emp.inner_text("#sign-result")
    await top_shot(shot, emp, "employee-signed")

    # -- HR seals: her dashboard's to-do, 去盖章, the code
    await hr.click("#console-contracts")  # ‹ 企业控制台 · 全部合同, under the sent contract
    await hr.wait_for_url(re.compile(here + rf"/console/e/{ent}/contracts(\?.*)?$"))
    await top_shot(shot, hr, "hr-console-contracts")
    await nav.locator('text="工作台"').click()
    await hr.wait_for_url(f"{url}/console/e/{ent}")
    todo = hr.locator("#todo .todo-seal a", has_text=TITLE)
    deadline = time.monotonic() + 60
    while not await todo.count():
        assert time.monotonic() < deadline, "the contract never reached 待盖章"
        await hr.wait_for_timeout(500)
        await hr.reload()
    await top_shot(shot, hr, "hr-dashboard-to-seal")
    await todo.click()
    await hr.wait_for_url(f"{url}/contracts/{contract_id}")
    await hr.click("#go-sign")
    await hr.wait_for_url(f"{url}/contracts/{contract_id}/sign")
    seen = await hr_inbox.count()
    await hr.click("#sign-start")
    await hr.locator("#sign-code").wait_for()
    await top_shot(shot, hr, "hr-seal-code-and-preview")
    await hr.fill("#sign-code", await hr_inbox.next_code(seen))
    await hr.click("#sign-confirm")
    await hr.locator("#download").wait_for()
    await top_shot(shot, hr, "hr-sealed")

    # -- both see 已完成
    await hr.click("#sign-result >> text=查看合同")
    await hr.wait_for_url(f"{url}/contracts/{contract_id}")
    await hr.locator("#contract-state", has_text="已完成").wait_for()
    await top_shot(shot, hr, "hr-contract-completed")
    await emp.click("#sign-result >> text=查看合同")
    await emp.wait_for_url(f"{url}/contracts/{contract_id}")
    await emp.click("a.back")
    await emp.wait_for_url(f"{url}/contracts")  # 待我签署: nothing left
    assert "暂无合同" in await emp.inner_text("main")
    await emp.click("nav.tabs >> text=已完成")
    await emp.wait_for_url(f"{url}/contracts?tab=completed")
    await emp.locator(".contract-list li", has_text=TITLE).locator(
        ".badge-ok", has_text="已完成").wait_for()
    await top_shot(shot, emp, "employee-contracts-completed")
    await emp.click(f"a[href='/contracts/{contract_id}']")
    await emp.locator("#contract-state", has_text="已完成").wait_for()
    await top_shot(shot, emp, "employee-contract-completed")

    # -- the signed PDF: two signatures, both valid to pdfsig
    async with emp.expect_download() as got:
        await emp.click("#download")
    signed_path = output_dir / f"contract-signed-{device}.pdf"
    await (await got.value).save_as(signed_path)
    signed = signed_path.read_bytes()
    assert signed.startswith(b"%PDF") and signed.count(b"/ByteRange") == 2
    if shutil.which("pdfsig") and shutil.which("certutil"):
        report = await asyncio.to_thread(_pdfsig, url, signed_path, tmp_path)
        assert report.count("Signature is Valid.") == 2, report
        assert report.count("Certificate is Trusted.") == 2, report
    if shutil.which("pdftoppm"):
        await asyncio.to_thread(subprocess.run, [
            "pdftoppm", "-png", "-r", "70", "-f", "3", "-l", "3", str(signed_path),
            str(output_dir / f"signed-page-{device}")], check=True)

    await hr_ctx.close()
    await emp_ctx.close()


def _pdfsig(url: str, pdf: Path, tmp_path: Path) -> str:
    """pdfsig's report, trusting only the product's root certificate."""
    root = tmp_path / "root.crt"
    with urllib.request.urlopen(f"{url}/ca/root.crt", timeout=10) as resp:  # noqa: S310
        root.write_bytes(resp.read())
    nss = tmp_path / "nss"
    nss.mkdir()
    db = f"sql:{nss}"
    subprocess.run(["certutil", "-N", "--empty-password", "-d", db], check=True)
    subprocess.run(["certutil", "-A", "-t", "CT,C,C", "-n", "laborsign-root", "-i", str(root),
                    "-d", db], check=True)
    done = subprocess.run(["pdfsig", "-nssdir", db, str(pdf)], capture_output=True, text=True,
                          check=False)
    return done.stdout + done.stderr
