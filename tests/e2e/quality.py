"""Checks every page must pass: axe-core (vendored, see vendor/README.txt), no horizontal overflow,
no clipped text; and screenshots at phone and desktop widths into var/screenshots/."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP_WIDE = {"width": 1440, "height": 900}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

# Every element whose own text is cut off: wider content than its box while it clips (overflow not
# visible, or an ellipsis), or a box reaching past the viewport's sides.
LAYOUT_PROBLEMS = """
() => {
  const problems = [];
  const root = document.scrollingElement;
  if (root.scrollWidth > window.innerWidth) {
    problems.push(`horizontal overflow: scrollWidth ${root.scrollWidth} > innerWidth ${window.innerWidth}`);
  }
  const ownText = (el) => Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
  for (const el of document.body.querySelectorAll("*")) {
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden" || !ownText(el)) continue;
    if (el.closest(".visually-hidden, .offscreen, .skip-link, [hidden], noscript")) continue;
    const clips = style.overflowX !== "visible" || style.textOverflow === "ellipsis";
    const classes = typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "";
    const name = `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${classes}`;
    const sample = el.textContent.trim().slice(0, 40);
    if (clips && el.scrollWidth > el.clientWidth + 1) problems.push(`clipped text in ${name}: "${sample}"`);
    if (clips && style.overflowY !== "visible" && el.scrollHeight > el.clientHeight + 1 && el.tagName !== "TEXTAREA") {
      problems.push(`clipped lines in ${name}: "${sample}"`);
    }
    const box = el.getBoundingClientRect();
    if (box.width > 0 && (box.right > window.innerWidth + 1 || box.left < -1)) {
      const span = `${Math.round(box.left)}..${Math.round(box.right)}`;
      problems.push(`${name} reaches outside the viewport (${span}): "${sample}"`);
    }
  }
  return problems;
}
"""


# Layout shifts of anything inside the drop cards or the drop page (pictures arriving, text filling in):
# recorded from the first paint, before the page's own scripts run.
SHIFT_WATCH = """
window.__shifts = [];
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (entry) {
    (entry.sources || []).forEach(function (source) {
      var node = source.node;
      if (node && node.closest && node.closest("#drop-list, #drop")) {
        window.__shifts.push({ value: entry.value, node: node.nodeName + "#" + node.id + "." + node.className,
          from: source.previousRect.height, to: source.currentRect.height });
      }
    });
  });
}).observe({ type: "layout-shift", buffered: true });
"""


def layout_shifts(page: Any) -> list[dict[str, Any]]:
    shifts: list[dict[str, Any]] | None = page.evaluate("() => window.__shifts")
    assert shifts is not None, "SHIFT_WATCH was not installed in this page"
    return shifts


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core on the page as it is; the page's context must bypass the CSP (the script is injected inline)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", AXE_TAGS)
    out = []
    for violation in result["violations"]:
        if violation["impact"] in impacts:
            targets = [json.dumps(node["target"]) for node in violation["nodes"][:5]]
            out.append(f"{violation['impact']} {violation['id']}: {violation['help']} at {', '.join(targets)}")
    return out


def layout_problems(page: Any) -> list[str]:
    problems: list[str] = page.evaluate(LAYOUT_PROBLEMS)
    return problems


def check_widths(page: Any, name: str) -> list[str]:
    """At phone and desktop widths: a full-page screenshot each, and what is wrong with the layout."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for label, size in (("phone", PHONE), ("desktop", DESKTOP_WIDE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(300)  # resize handlers (the ops chart) redraw
        page.wait_for_function("() => Array.from(document.images).every(i => i.loading === 'lazy' || i.complete)")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True, animations="disabled")
        problems += [f"{name} at {label}: {p}" for p in layout_problems(page)]
    return problems
