"""The JupyterLab frontend as a user meets it: the terms gate, then the connector sidebar."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Route, expect

import cozy_kernel as cozy
from tests.conftest import UNTIL, accept_terms, write_connector

# JupyterLab takes a few seconds to start in a fresh profile.
expect.set_options(timeout=20_000)
CSV = Path(__file__).resolve().parents[1] / "fixtures" / "csv" / "fr_boursorama.csv"


def gate(page: Page) -> Locator:
    dialog = page.locator(".jp-Dialog").filter(has=page.locator(".cozy-Terms"))
    expect(dialog).to_be_visible()
    return dialog


def open_sidebar(page: Page) -> Locator:
    page.locator('.jp-SideBar [data-id="cozy-connectors"]').click()
    sidebar = page.locator("#cozy-connectors")
    expect(sidebar).to_be_visible()
    return sidebar


def accept(page: Page, label: str = "Accept") -> None:
    gate(page).get_by_role("button", name=label).click()
    expect(page.locator(".cozy-Terms")).to_have_count(0)


def dialog_with(page: Page, selector: str) -> Locator:
    dialog = page.locator(".jp-Dialog").filter(has=page.locator(selector))
    expect(dialog).to_be_visible()
    return dialog


def connect_demo(page: Page, row: Locator) -> None:
    """Connect → the consent screen → the settings form from the manifest → connected."""
    row.get_by_role("button", name="Connect").click()
    consent = dialog_with(page, ".cozy-Consent")
    expect(consent).to_contain_text("network hosts it will contact: none")
    consent.get_by_role("button", name="Grant").click()
    form = dialog_with(page, ".cozy-Form")
    expect(form).to_contain_text("Months of history")
    form.locator('input[name="until"]').fill(UNTIL)
    form.locator('input[name="months"]').fill("6")
    form.get_by_role("button", name="Connect").click()
    expect(row.locator(".cozy-Badge")).to_have_text("connected")


def test_a_fresh_workspace_opens_on_the_terms_gate_with_its_tables(page: Page) -> None:
    dialog = gate(page)

    # The terms are Markdown, rendered: headings are headings
    expect(dialog.locator(".cozy-Terms-text h2").first).to_be_visible()
    expect(dialog.locator(".cozy-Terms-text")).to_contain_text("What Cozy Notebook does")
    expect(dialog.get_by_role("heading", name="Data we collect")).to_be_visible()
    collect = dialog.locator(".cozy-Terms-collect tbody tr")
    expect(collect.filter(has_text="Demo Bank")).to_have_count(1)
    expect(dialog.get_by_role("heading", name="Third parties")).to_be_visible()
    expect(dialog.locator(".cozy-Terms-third-parties")).to_contain_text("GoCardless Ltd")
    expect(dialog.get_by_role("button", name="Decline")).to_be_visible()


def test_declining_locks_the_sidebar_and_offers_the_terms_again(page: Page) -> None:
    gate(page).get_by_role("button", name="Decline").click()

    sidebar = open_sidebar(page)
    expect(sidebar).to_contain_text("the data features are locked")
    sidebar.get_by_role("button", name="Show the terms").click()
    accept(page)
    expect(sidebar.locator('[data-connector="demo-bank"]')).to_be_visible()


def test_accepting_lists_the_connectors_grouped_by_category(page: Page) -> None:
    accept(page)

    sidebar = open_sidebar(page)
    banking = sidebar.locator('.cozy-Group[data-category="banking"]')
    expect(banking.locator(".cozy-Group-title")).to_have_text("Banking")
    row = banking.locator('[data-connector="demo-bank"]')
    expect(row).to_contain_text("Demo Bank")
    expect(row.locator(".cozy-Badge")).to_have_text("not connected")
    expect(banking.locator(".cozy-Connector")).to_have_count(7)


def test_connect_sync_then_disconnect_and_erase_demo_bank(page: Page) -> None:
    accept(page)
    row = open_sidebar(page).locator('[data-connector="demo-bank"]')
    connect_demo(page, row)

    # Sync now fills the store and the row shows what it brought
    row.get_by_role("button", name="Sync now").click()
    expect(row.locator(".cozy-Connector-run")).to_contain_text(re.compile(r"\d+ rows added"))
    expect(row.locator(".cozy-Connector-rows")).to_contain_text("2 rows in bank.accounts")
    expect(row.locator(".cozy-Connector-rows")).to_contain_text(
        re.compile(r"\d{2,} rows in bank.transactions")
    )
    expect(row.locator(".cozy-Badge")).to_have_text("connected")

    # It can sync by itself: the user picks how often, and sees when it next runs
    row.locator(".cozy-Schedule-frequency").select_option("weekly")
    expect(row.locator(".cozy-Schedule-frequency")).to_have_value("weekly")
    expect(row.locator(".cozy-Schedule-next")).to_contain_text("Next automatic sync")

    # Disconnect asks first, and can erase what the connector brought
    row.get_by_role("button", name="Disconnect").click()
    confirm = dialog_with(page, ".cozy-Disconnect")
    confirm.locator(".cozy-Disconnect-erase").check()
    confirm.get_by_role("button", name="Disconnect").click()
    expect(row.locator(".cozy-Badge")).to_have_text("not connected")
    expect(row.locator(".cozy-Connector-rows")).to_have_count(0)
    expect(row.get_by_role("button", name="Connect")).to_be_visible()


def test_credentials_are_asked_in_masked_fields(page: Page) -> None:
    accept(page)
    row = open_sidebar(page).locator('[data-connector="gocardless"]')

    row.get_by_role("button", name="Connect").click()
    consent = dialog_with(page, ".cozy-Consent")
    expect(consent).to_contain_text("GoCardless Ltd")
    consent.get_by_role("button", name="Grant").click()
    form = dialog_with(page, ".cozy-Form")
    secret = form.locator('input[name="secret_key"]')
    expect(secret).to_have_attribute("type", "password")
    expect(form.locator('input[name="secret_id"]')).to_have_attribute("type", "password")
    secret.fill("never-shown-anywhere")
    form.get_by_role("button", name="Cancel").click()

    # Cancelled: nothing granted, nothing stored, the secret nowhere in the page
    expect(row.locator(".cozy-Badge")).to_have_text("not connected")
    assert "never-shown-anywhere" not in page.content()


def test_a_service_address_typed_in_the_form_is_shown_for_consent_first(page: Page) -> None:
    accept(page)
    row = open_sidebar(page).locator('[data-connector="gocardless"]')
    row.get_by_role("button", name="Connect").click()
    first = dialog_with(page, ".cozy-Consent")
    expect(first).not_to_contain_text("elsewhere.example")
    first.get_by_role("button", name="Grant").click()

    # The form sends the data to another host than the screen granted
    form = dialog_with(page, ".cozy-Form")
    form.locator('input[name="base_url"]').fill("https://elsewhere.example/api")
    form.get_by_role("button", name="Connect").click()

    # So that host is put before the user, and saying no grants and stores nothing
    again = dialog_with(page, ".cozy-Consent")
    expect(again).to_contain_text("elsewhere.example")
    again.get_by_role("button", name="Cancel").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    expect(row.locator(".cozy-Badge")).to_have_text("not connected")


def test_import_a_csv_statement_asks_the_grant_then_shows_the_rows(
    page: Page, tmp_path: Path
) -> None:
    accept(page)
    sidebar = open_sidebar(page)

    sidebar.locator(".cozy-Import-input").set_input_files(str(CSV))
    consent = dialog_with(page, ".cozy-Consent")
    expect(consent).to_contain_text("CSV")
    consent.get_by_role("button", name="Grant").click()

    expect(page.locator(".Toastify__toast").filter(has_text="Imported")).to_contain_text(
        re.compile(r"Imported \d+ rows from 1 file")
    )
    row = sidebar.locator('[data-connector="csv"]')
    expect(row.locator(".cozy-Badge")).to_have_text("connected")
    expect(row.locator(".cozy-Connector-rows")).to_contain_text("rows in bank.transactions")
    expect(row.locator(".cozy-Connector-run")).to_contain_text("Last import")

    # A statement with a row that cannot be read: the others come in, the row is named
    lines = CSV.read_text(encoding="utf-8-sig").splitlines()
    lines[2] = lines[2].replace("2024-06-08", "2024-06-31", 1)
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sidebar.locator(".cozy-Import-input").set_input_files(str(broken))
    warning = page.locator(".Toastify__toast").filter(has_text="rejected")
    expect(warning).to_contain_text("1 row could not be read and was rejected")
    expect(warning).to_contain_text("broken.csv:line 3: '2024-06-31' is not a valid date")
    expect(warning).not_to_contain_text("cozy-import-")  # the upload's folder is not shown


def test_what_we_hold_opens_the_transparency_report(page: Page) -> None:
    accept(page)
    sidebar = open_sidebar(page)
    connect_demo(page, sidebar.locator('[data-connector="demo-bank"]'))
    sidebar.locator('[data-connector="demo-bank"]').get_by_role("button", name="Sync now").click()
    expect(sidebar.locator('[data-connector="demo-bank"] .cozy-Connector-rows')).to_be_visible()

    sidebar.get_by_role("button", name="What we hold").click()

    frame = page.frame_locator("#cozy-report iframe")
    expect(frame.locator("body")).to_contain_text("Demo Bank")
    expect(frame.locator("body")).to_contain_text("bank.transactions")


def test_a_template_from_the_launcher_runs_on_the_demo_bank(page: Page) -> None:
    accept(page)

    launcher = page.locator(".jp-Launcher")
    section = launcher.locator(".jp-Launcher-section").filter(has_text="Cozy templates")
    section.locator(".jp-LauncherCard", has_text="Welcome to Cozy Notebook").click()
    notebook = page.locator(".jp-NotebookPanel").filter(has=page.locator(".jp-Cell"))
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    expect(tab).to_contain_text("Welcome.ipynb")
    # Run once the kernel is up (running earlier would ask which kernel to start)
    expect(page.locator("#jp-main-statusbar")).to_contain_text(
        re.compile(r"Python 3 \(ipykernel\) \| Idle"), timeout=60_000
    )

    page.get_by_role("menuitem", name="Run").click()
    page.locator('[data-command="runmenu:run-all"]').click()

    # The notebook connects and syncs the demo bank, then adds up last month's spending
    expect(notebook.locator(".jp-OutputArea-output").filter(has_text="Spent in")).to_be_visible(
        timeout=120_000
    )
    expect(notebook.locator(".jp-OutputArea-output[data-mime-type*='error']")).to_have_count(0)


@pytest.mark.locale("fr_FR")
def test_in_french_the_gate_and_the_sidebar_speak_french(page: Page) -> None:
    dialog = gate(page)
    expect(dialog.locator(".cozy-Terms-text")).to_contain_text("Aucune télémétrie")
    expect(dialog.get_by_role("heading", name="Données collectées")).to_be_visible()
    accept(page, "Accepter")

    row = open_sidebar(page).locator('[data-connector="demo-bank"]')
    expect(row.locator(".cozy-Badge")).to_have_text("non connecté")
    expect(row.get_by_role("button", name="Connecter")).to_be_visible()
    expect(page.locator("#cozy-connectors")).to_contain_text("Déposez vos relevés bancaires ici")


@pytest.mark.without_server_extension
def test_without_the_server_extension_the_sidebar_says_how_to_check_it(page: Page) -> None:
    sidebar = open_sidebar(page)

    expect(sidebar.locator(".cozy-Sidebar-error")).to_contain_text(
        "the server extension is not enabled — run `jupyter server extension list`"
    )
    expect(page.locator(".cozy-Terms")).to_have_count(0)


@pytest.fixture
def future_major(fresh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Terms 1.0.0 accepted, and the operator announcing 2.0.0 for a month from now."""
    folder = tmp_path / "operator"
    folder.mkdir()
    monkeypatch.setenv("COZY_TERMS_DIR", str(folder))
    terms = folder / "terms.en.md"
    header = "---\nversion: {}\ncontroller: The Martin family\njurisdiction: FR\n---\nOur terms\n"
    terms.write_text(header.format("1.0.0-20200101"))
    cozy.accept_terms()
    later = dt.date.today() + dt.timedelta(days=30)
    terms.write_text(header.format(f"2.0.0-{later:%Y%m%d}"))
    return later.isoformat()


def test_a_major_announced_for_later_notifies_without_blocking(
    future_major: str, page: Page
) -> None:
    toast = page.locator(".Toastify__toast").filter(has_text="New Cozy Notebook terms")

    expect(toast).to_contain_text(f"take effect on {future_major}")
    expect(page.locator(".cozy-Terms")).to_have_count(0)
    row = open_sidebar(page).locator('[data-connector="demo-bank"]')
    expect(row.get_by_role("button", name="Connect")).to_be_visible()
    toast.get_by_role("button", name="Review terms").click()
    expect(gate(page).locator(".cozy-Terms-text")).to_contain_text("Our terms")


FLAKY = """
from cozy_kernel.connector import Connector, Manifest
from cozy_kernel.errors import ReconnectNeeded

class Flaky(Connector):
    manifest = Manifest(id="flaky", name="Flaky Bank", version="1", kind="demo",
                        writes=("bank.accounts",), description={"en": "refuses its login"},
                        default_frequency="daily")

    def fetch(self, since):
        raise ReconnectNeeded("the bank refused the login", hint="reconnect Flaky Bank")

connector = Flaky
"""


@pytest.fixture
def refusing_bank(fresh_home: Path) -> None:
    """Terms accepted and a daily connector whose bank now refuses the login."""
    accept_terms(fresh_home)
    write_connector(fresh_home, "flaky", FLAKY)
    cozy.connect("flaky", grant=True)


@pytest.mark.server_args("--CozyNotebook.day_seconds=2", "--CozyNotebook.schedule_tick=0.3")
@pytest.mark.user_settings("cozy-jupyterlab/plugin", '{"refreshSeconds": 1}')
def test_a_refused_automatic_sync_pauses_and_says_what_to_do(
    refusing_bank: None, page: Page
) -> None:
    toast = page.locator(".Toastify__toast").filter(has_text="stopped syncing by itself")

    expect(toast).to_contain_text("Flaky Bank stopped syncing by itself: the bank refused")
    toast.get_by_role("button", name="Open Cozy connectors").click()
    row = page.locator('#cozy-connectors [data-connector="flaky"]')
    expect(row.locator(".cozy-Badge")).to_have_text("needs reconnect")
    expect(row.locator(".cozy-Schedule-paused")).to_contain_text("Reconnect or sync by hand")


@pytest.fixture
def other_bundle(tmp_path: Path) -> Path:
    """A bundle exported from another workspace holding two months of the demo bank."""
    other = tmp_path / "other"
    cozy.accept_terms(home=other)
    cozy.connect("demo-bank", home=other, grant=True, until=UNTIL, months=2)
    cozy.sync("demo-bank", home=other)
    return Path(cozy.export_bundle(tmp_path / "other.zip", home=other)["path"])


def test_import_a_bundle_then_export_my_data(
    other_bundle: Path, page: Page, tmp_path: Path
) -> None:
    accept(page)
    sidebar = open_sidebar(page)
    # Held on its way to the server, the bundle shows as travelling and cannot be sent twice
    held: list[Route] = []
    page.route("**/cozy/api/bundles", lambda route: held.append(route))

    sidebar.locator(".cozy-Bundle-input").set_input_files(str(other_bundle))
    button = sidebar.locator(".cozy-BundleImport")
    expect(button).to_be_disabled()
    expect(button).to_have_text(re.compile(r"Sending \d+%|Restoring…"))
    for _ in range(100):  # the handler runs as Playwright's events are dispatched
        if held:
            break
        page.wait_for_timeout(50)
    (request,) = held
    request.continue_()
    page.unroute("**/cozy/api/bundles")
    toast = page.locator(".Toastify__toast").filter(has_text="Bundle restored")
    expect(toast).to_contain_text(re.compile(r"Bundle restored: [1-9]\d* rows added"))
    row = sidebar.locator('[data-connector="demo-bank"]')
    expect(row.locator(".cozy-Connector-rows")).to_contain_text("rows in bank.transactions")

    with page.expect_download() as download:
        sidebar.get_by_role("button", name="Export my data").click()
    assert re.fullmatch(r"cozy-export-\d{8}T\d{6}\.zip", download.value.suggested_filename)
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    mine = cozy.verify_bundle(saved)
    theirs = cozy.verify_bundle(other_bundle)
    assert mine["kind"] == "full"
    assert mine["collections"]["bank.transactions"] == theirs["collections"]["bank.transactions"]
