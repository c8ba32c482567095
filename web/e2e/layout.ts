/**
 * Is every control on screen and readable? For each visible button, link, field, select, switch,
 * slider and tab: after scrolling the containers a person can scroll (up and down; sideways only
 * tables, code, math, diagrams and the admin tabs), it lies inside the viewport,
 * no ancestor that clips (overflow hidden/auto) cuts it, and its label is not cut short (text wider
 * than its box, or an ellipsis). What may be cut is marked: a select's value (its full text is its
 * title) and `[data-may-truncate]` (people's own titles).
 */
import type { Page } from '@playwright/test'

export async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const SELECTOR = [
      'button',
      'a[href]',
      'input:not([type="hidden"])',
      'textarea',
      'select',
      '[role="button"]',
      '[role="tab"]',
      '[role="switch"]',
      '[role="slider"]',
      '[role="menuitem"]',
      '[role="option"]',
      '[role="radio"]',
      '.n-base-selection',
      '.n-radio-button',
      '.n-checkbox',
      '.n-dropdown-option-body',
    ].join(',')
    /** Made to scroll sideways (tables, code, tabs, math, diagrams); anything else that does is cut off. */
    const SIDEWAYS = '.admin-tabs, .table-wrap, pre, table, .katex-display, .mermaid-view, [data-scrolls-sideways]'
    const vw = document.documentElement.clientWidth
    const vh = document.documentElement.clientHeight
    const problems: string[] = []
    const TOL = 1

    const describe = (el: Element): string => {
      const label =
        el.getAttribute('aria-label') ||
        (el as HTMLElement).innerText ||
        el.getAttribute('placeholder') ||
        el.getAttribute('title') ||
        ''
      const cls =
        typeof el.className === 'string' ? el.className.split(/\s+/).filter(Boolean).slice(0, 2).join('.') : ''
      return `<${el.tagName.toLowerCase()}${cls ? `.${cls}` : ''}> "${label.replace(/\s+/g, ' ').trim().slice(0, 40)}"`
    }
    const shown = (el: Element): boolean => {
      const r = el.getBoundingClientRect()
      if (r.width < 1 || r.height < 1) return false
      if (!el.checkVisibility({ visibilityProperty: true, opacityProperty: false })) return false
      return !el.closest('[aria-hidden="true"], .sr-only, .skip-link')
    }
    const scrollable = (el: Element, axis: 'x' | 'y'): boolean => {
      const cs = getComputedStyle(el)
      const overflow = axis === 'x' ? cs.overflowX : cs.overflowY
      if (!/(auto|scroll)/.test(overflow)) return false
      return axis === 'x' ? el.scrollWidth > el.clientWidth : el.scrollHeight > el.clientHeight
    }
    /** Scroll the containers a person could scroll (never overflow:hidden ones) to show `el`. */
    const reveal = (el: Element): void => {
      for (let a = el.parentElement; a; a = a.parentElement) {
        const r = el.getBoundingClientRect()
        const box =
          a === document.documentElement ? { top: 0, bottom: vh, left: 0, right: vw } : a.getBoundingClientRect()
        if (scrollable(a, 'y') || (a === document.scrollingElement && a.scrollHeight > a.clientHeight)) {
          if (r.bottom > box.bottom) a.scrollTop += Math.min(r.top - box.top, r.bottom - box.bottom)
          else if (r.top < box.top) a.scrollTop -= box.top - r.top
        }
        if (scrollable(a, 'x') && a.matches(SIDEWAYS)) {
          if (r.right > box.right) a.scrollLeft += Math.min(r.left - box.left, r.right - box.right)
          else if (r.left < box.left) a.scrollLeft -= box.left - r.left
        }
      }
    }
    const clippers = (el: Element): Element[] => {
      const out: Element[] = []
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
        const cs = getComputedStyle(a)
        if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') out.push(a)
      }
      return out
    }
    const mayTruncate = (el: Element): boolean =>
      Boolean(el.closest('[data-may-truncate], .n-base-selection-input, .n-base-selection-tags'))

    const controls = Array.from(document.querySelectorAll(SELECTOR)).filter(shown)
    const seen = new Set<Element>()
    for (const el of controls) {
      if (
        [...seen].some(
          (s) => s.contains(el) && s !== el && s.matches('.n-base-selection, .n-radio-button, .n-checkbox'),
        )
      )
        continue
      seen.add(el)
      reveal(el)
      const r = el.getBoundingClientRect()
      if (r.left < -TOL || r.top < -TOL || r.right > vw + TOL || r.bottom > vh + TOL) {
        problems.push(
          `${describe(el)} is off screen (x ${Math.round(r.left)}–${Math.round(r.right)}, y ${Math.round(r.top)}–${Math.round(r.bottom)}, viewport ${vw}×${vh})`,
        )
        continue
      }
      for (const a of clippers(el)) {
        const box = a.getBoundingClientRect()
        const left = box.left + a.clientLeft
        const top = box.top + a.clientTop
        const right = left + a.clientWidth
        const bottom = top + a.clientHeight
        if (r.left < left - TOL || r.right > right + TOL || r.top < top - TOL || r.bottom > bottom + TOL) {
          problems.push(
            `${describe(el)} is cut off by ${describe(a)} (x ${Math.round(r.left)}–${Math.round(r.right)} in ${Math.round(left)}–${Math.round(right)})`,
          )
          break
        }
      }
      if (el.matches('input, textarea, select') || mayTruncate(el)) continue
      // The label: an element inside the control whose text is wider than its box.
      for (const inner of [el, ...Array.from(el.querySelectorAll('*'))]) {
        if (!inner.firstChild || mayTruncate(inner) || inner.closest('.sr-only')) continue
        const hasText = Array.from(inner.childNodes).some(
          (n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? '').trim(),
        )
        if (!hasText) continue
        const cs = getComputedStyle(inner)
        const cuts = cs.overflowX !== 'visible' || cs.textOverflow === 'ellipsis'
        if (cuts && inner.scrollWidth > inner.clientWidth + TOL) {
          problems.push(
            `${describe(el)}: its label is cut short (${inner.scrollWidth} px of text in ${inner.clientWidth} px)`,
          )
          break
        }
        const range = document.createRange()
        const text = Array.from(inner.childNodes).find(
          (n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? '').trim(),
        )!
        range.selectNodeContents(text)
        const t = range.getBoundingClientRect()
        if (t.width > 0 && (t.left < r.left - TOL - 2 || t.right > r.right + TOL + 2)) {
          problems.push(
            `${describe(el)}: its label spills out of it (text x ${Math.round(t.left)}–${Math.round(t.right)}, box ${Math.round(r.left)}–${Math.round(r.right)})`,
          )
          break
        }
      }
    }
    // Headings of the page cut short (the chat title on a phone).
    for (const h of Array.from(
      document.querySelectorAll('h1, .n-card-header__main, .n-drawer-header__main, .n-dialog__title'),
    ).filter(shown)) {
      if (mayTruncate(h)) continue
      const clamped = getComputedStyle(h).webkitLineClamp !== 'none' && h.scrollHeight > h.clientHeight + TOL
      if (h.scrollWidth > h.clientWidth + TOL || clamped)
        problems.push(
          `heading ${describe(h)} is cut short (${h.scrollWidth}×${h.scrollHeight} px of text in ${h.clientWidth}×${h.clientHeight} px)`,
        )
    }
    return problems
  })
}
