"""What a browser test does in the portal: sign in, check accessibility and keyboard use, keep screenshots."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from tests.e2e.actors import PartnerSetup

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# The impacts that fail a page (axe's minor and moderate findings are printed, not failed).
BLOCKING_IMPACTS = ("serious", "critical")


@dataclass(frozen=True)
class Demo:
    """A partner like `make run`'s demo: its owner, two proven tenants and a person scoped to one.

    Names carry a suffix of their own: the picker lists every person in the worker's storage."""

    partner: PartnerSetup
    owner: str  # display names, as the dev issuer's picker shows them
    scoped: str
    tenant: str  # the tenant the scoped person reaches
    other_tenant: str  # and the one they don't


def sign_in(page: Page, person: str, *, button: str = "Sign in", heading: str = "Tenants") -> None:
    """Opens the portal, signs in with the real MSAL through the dev issuer's picker as `person`
    (the display name on the picker's button) and waits for the tenants page."""
    page.goto("/")
    page.get_by_role("button", name=button, exact=True).click()
    # The picker is the dev issuer's authorise page, on its own (TLS) origin.
    page.wait_for_url(re.compile(r"/_dev/entra/.*/authorize"))
    page.get_by_role("button", name=re.compile(re.escape(person))).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def screenshot(page: Page, name: str) -> Path:
    """The whole page as tests/browser/screenshots/<name>.png (git-ignored), for a person to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def check_accessibility(page: Page) -> None:
    """Runs axe-core on the page as it is and fails on any serious or critical violation.

    axe goes in through page.evaluate (the DevTools protocol), not a <script> tag: the portal's
    CSP (`script-src 'self'`) refuses inline scripts, and add_script_tag is one. Evaluating keeps the
    page under its real CSP, so no context needs bypass_csp and what axe sees is what people get."""
    if page.evaluate("typeof window.axe") == "undefined":
        page.evaluate(AXE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => (await window.axe.run(
            // Fluent's tabster adds aria-hidden focus redirectors (TabList, Dialog) on purpose: they
            // pass focus on at once and must stay hidden from screen readers (microsoft/tabster#288).
            {exclude: [["[data-tabster-dummy]"]]},
            {resultTypes: ["violations"]},
        )).violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => `${n.target.join(" ")} ${n.html.slice(0, 80)}`).slice(0, 5),
        }))"""
    )
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    listed = "\n".join(
        f"  [{v['impact']}] {v['id']}: {v['help']} at {', '.join(v['nodes'])}" for v in violations
    )
    if violations:
        print(f"axe on {page.url}:\n{listed}")
    assert not blocking, f"axe found serious or critical violations on {page.url}:\n{listed}"


# Elements a person reaches with Tab: natively focusable or given tabindex >= 0, shown, enabled,
# not inert. Fluent's tabster adds invisible "dummy" inputs that move focus on; they are not the page's.
# Each element gets a number (window.__keyboard) so the Tab walk can name and find it again.
_KEYBOARD = """() => {
  if (window.__keyboard) return;
  const ids = new WeakMap(), elements = new Map();
  const label = el => {
    const name = el.getAttribute("aria-label") || el.labels?.[0]?.textContent.trim()
      || el.textContent.trim().slice(0, 40) || el.getAttribute("name") || "";
    return `<${el.tagName.toLowerCase()}> ${name}`.trim();
  };
  const number = el => {
    if (!ids.has(el)) { ids.set(el, elements.size + 1); elements.set(elements.size + 1, el); }
    return ids.get(el);
  };
  const shown = el => {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" && style.display !== "none";
  };
  const selector = 'a[href], area[href], button, input:not([type="hidden"]), select, textarea, summary, '
    + 'iframe, [tabindex], [contenteditable=""], [contenteditable="true"]';
  window.__keyboard = {
    tabbable: () => [...document.querySelectorAll(selector)]
      .filter(el => el.tabIndex >= 0 && !el.disabled && !el.closest('[inert], [aria-hidden="true"]')
        && !el.hasAttribute("data-tabster-dummy") && shown(el))
      .map(el => ({id: number(el), label: label(el)})),
    focused: () => {
      const el = document.activeElement;
      if (!el || el === document.body || el === document.documentElement) return null;
      return {id: number(el), label: label(el)};
    },
    // The element's box in the viewport, scrolled into view first (null once it is gone).
    box: id => {
      const el = elements.get(id);
      if (!el || !el.isConnected) return null;
      el.scrollIntoView({block: "nearest", inline: "nearest"});
      const box = el.getBoundingClientRect();
      return {x: box.x, y: box.y, width: box.width, height: box.height};
    },
  };
}"""

_START = """() => {
  window.scrollTo(0, 0);
  const start = document.createElement("span");
  start.id = "keyboard-walk-start";
  start.tabIndex = -1;
  document.body.prepend(start);
  start.focus({preventScroll: true});
}"""

# How far around an element its focus indicator may be drawn (Fluent draws it just outside).
_RING = 6


def check_keyboard(page: Page) -> None:
    """Tabs through the page from its start: every element a person could use is reached, each one
    visibly changes when it takes focus, and Tab leaves the page's last element (no focus trap).

    "Visibly" is measured, not inferred from styles: the area around the element is captured while
    it has focus and again once focus has moved on, and the two must differ."""
    page.evaluate(_KEYBOARD)
    expected = {item["id"]: item["label"] for item in page.evaluate("() => window.__keyboard.tabbable()")}
    assert expected, f"nothing on {page.url} can take keyboard focus"
    # The walk starts at the top whatever was clicked last (Chromium starts Tab from the last click):
    # focus a stand-in at the very start of the body, which the first Tab leaves and which then goes.
    page.evaluate(_START)
    visited: list[int] = []
    labels: dict[int, str] = {}
    unseen_focus: list[str] = []
    trapped: str | None = None
    previous: tuple[int, bytes] | None = None
    for _ in range(2 * len(expected) + 10):
        page.keyboard.press("Tab")
        page.evaluate("() => document.getElementById('keyboard-walk-start')?.remove()")
        if previous is not None and _capture(page, previous[0]) == previous[1]:
            unseen_focus.append(labels[previous[0]])
        focused = page.evaluate("() => window.__keyboard.focused()")
        if focused is None or (visited and focused["id"] == visited[0]):
            break  # focus left the page's end, or came round to its start: the loop is whole
        if focused["id"] in visited:
            trapped = " -> ".join(labels[i] for i in visited[visited.index(focused["id"]) :])
            break
        visited.append(focused["id"])
        labels[focused["id"]] = focused["label"]
        previous = (focused["id"], _capture(page, focused["id"]))
    else:
        trapped = "Tab never left the page nor came back to its start"
    missing = [label for element, label in expected.items() if element not in visited]
    problems = []
    if trapped:
        problems.append(f"focus is trapped: {trapped}")
    if missing:
        problems.append("not reachable with Tab: " + "; ".join(missing))
    if unseen_focus:
        problems.append("no visible focus on: " + "; ".join(unseen_focus))
    assert not problems, f"keyboard use of {page.url}:\n  " + "\n  ".join(problems)


def _capture(page: Page, element: int) -> bytes | None:
    """The element and the ring around it as shown now (None once it has left the page)."""
    box = page.evaluate("id => window.__keyboard.box(id)", element)
    if box is None:
        return None
    viewport = page.viewport_size or {"width": 1280, "height": 720}
    x = max(box["x"] - _RING, 0)
    y = max(box["y"] - _RING, 0)
    width = min(box["width"] + 2 * _RING, viewport["width"] - x)
    height = min(box["height"] + 2 * _RING, viewport["height"] - y)
    if width < 1 or height < 1:
        return None
    clip = {"x": x, "y": y, "width": width, "height": height}
    return page.screenshot(clip=clip, animations="disabled", caret="hide")
