/**
 * What naive-ui 2.45 leaves out of its dialogs' ARIA, put back as they appear in the page:
 * - a modal card, a dialog (useDialog) and a drawer are `role="dialog"` without a name: they are
 *   named by their own title (aria-labelledby), unless the caller named them;
 * - a card's header is two nested `role="heading"` elements without `aria-level` (a critical
 *   axe violation): the outer one becomes a plain group, the inner one a level-2 heading.
 * Vue never rewrites these attributes (its vnodes carry the same static values), so setting them
 * once is enough. Pure DOM; `patchTree` is unit-tested.
 */
const DIALOGS: [string, string][] = [
  ['.n-card[role="dialog"]', '.n-card-header__main'],
  ['.n-dialog[role="dialog"]', '.n-dialog__title'],
  ['.n-drawer[role="dialog"]', '.n-drawer-header__main'],
]

let counter = 0

function ensureId(el: Element): string {
  if (!el.id) el.id = `cg-a11y-${++counter}`
  return el.id
}

/** Patch `root` and everything under it. */
export function patchTree(root: Element | Document): void {
  const scope = root instanceof Document ? root.documentElement : root
  const all = (selector: string) => [
    ...(scope.matches?.(selector) ? [scope] : []),
    ...Array.from(scope.querySelectorAll(selector)),
  ]
  for (const header of all('.n-card-header[role="heading"]')) header.setAttribute('role', 'none')
  for (const main of all('.n-card-header__main[role="heading"]:not([aria-level])')) main.setAttribute('aria-level', '2')
  for (const [dialog, title] of DIALOGS) {
    for (const el of all(dialog)) {
      if (el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby')) continue
      const heading = el.querySelector(title)
      if (heading && heading.textContent?.trim()) el.setAttribute('aria-labelledby', ensureId(heading))
    }
  }
}

/** Keep patching whatever naive-ui adds to the page (modals are teleported to <body>). */
export function installA11yPatches(doc: Document = document): MutationObserver {
  patchTree(doc)
  const observer = new MutationObserver((records) => {
    for (const record of records) {
      for (const node of Array.from(record.addedNodes)) {
        const el = node instanceof Element ? node : node.parentElement
        if (!el) continue
        // Only what is, or holds, or is inside a dialog: a streaming answer adds nodes many times a second.
        const target =
          el.closest('[role="dialog"]') ?? (el.querySelector('[role="dialog"], [role="heading"]') ? el : null)
        if (target) patchTree(target)
      }
    }
  })
  observer.observe(doc.body, { childList: true, subtree: true })
  return observer
}
