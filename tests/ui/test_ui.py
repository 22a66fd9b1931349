"""The JupyterLab frontend as a user meets it: the terms gate, then the connector sidebar."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

# JupyterLab takes a few seconds to start in a fresh profile.
expect.set_options(timeout=20_000)


def gate(page: Page) -> Locator:
    dialog = page.locator(".jp-Dialog").filter(has=page.locator(".cozy-Terms"))
    expect(dialog).to_be_visible()
    return dialog


def open_sidebar(page: Page) -> Locator:
    page.locator('.jp-SideBar [data-id="cozy-connectors"]').click()
    sidebar = page.locator("#cozy-connectors")
    expect(sidebar).to_be_visible()
    return sidebar


def accept(page: Page) -> None:
    gate(page).get_by_role("button", name="Accept").click()
    expect(page.locator(".cozy-Terms")).to_have_count(0)


def test_a_fresh_workspace_opens_on_the_terms_gate_with_its_tables(page: Page) -> None:
    dialog = gate(page)

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


def test_accepting_lists_the_connectors(page: Page) -> None:
    accept(page)

    sidebar = open_sidebar(page)
    row = sidebar.locator('[data-connector="demo-bank"]')
    expect(row).to_contain_text("Demo Bank")
    expect(row.locator(".cozy-Badge")).to_have_text("not connected")


def test_connect_sync_then_disconnect_demo_bank(page: Page) -> None:
    accept(page)
    row = open_sidebar(page).locator('[data-connector="demo-bank"]')

    # Connect shows the consent screen first
    row.get_by_role("button", name="Connect").click()
    consent = page.locator(".jp-Dialog").filter(has=page.locator(".cozy-Consent"))
    expect(consent).to_contain_text("network hosts it will contact: none")
    consent.get_by_role("button", name="Connect").click()
    expect(row.locator(".cozy-Badge")).to_have_text("connected")

    # Sync now fills the store and tells how much it brought
    row.get_by_role("button", name="Sync now").click()
    expect(row.locator(".cozy-Connector-run")).to_contain_text(re.compile(r"\d+ rows added"))
    expect(row.locator(".cozy-Badge")).to_have_text("connected")
    expect(row.get_by_role("button", name="Disconnect")).to_be_visible()

    # Disconnect asks first, and can erase what the connector brought
    row.get_by_role("button", name="Disconnect").click()
    confirm = page.locator(".jp-Dialog").filter(has=page.locator(".cozy-Disconnect"))
    confirm.locator(".cozy-Disconnect-erase").check()
    confirm.get_by_role("button", name="Disconnect").click()
    expect(row.locator(".cozy-Badge")).to_have_text("not connected")
    expect(row.get_by_role("button", name="Connect")).to_be_visible()
