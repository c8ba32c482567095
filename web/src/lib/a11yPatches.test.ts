import { describe, expect, it } from 'vitest'
import { installA11yPatches, patchTree } from './a11yPatches'

describe('a11y patches for naive-ui dialogs', () => {
  it('names a card dialog by its title and gives its heading a level', () => {
    document.body.innerHTML = `<div class="n-card" role="dialog"><div class="n-card-header" role="heading">
      <div class="n-card-header__main" role="heading">Share conversation</div></div></div>`
    patchTree(document)
    const dialog = document.querySelector('.n-card')!
    const title = document.querySelector('.n-card-header__main')!
    expect(dialog.getAttribute('aria-labelledby')).toBe(title.id)
    expect(title.getAttribute('aria-level')).toBe('2')
    expect(document.querySelector('.n-card-header')!.getAttribute('role')).toBe('none')
  })

  it('keeps a name the caller gave, and names dialogs and drawers that appear later', async () => {
    document.body.innerHTML =
      '<div class="n-drawer" role="dialog" aria-label="Chat settings"><div class="n-drawer-header__main">Other</div></div>'
    const observer = installA11yPatches(document)
    expect(document.querySelector('.n-drawer')!.hasAttribute('aria-labelledby')).toBe(false)
    const later = document.createElement('div')
    later.innerHTML = '<div class="n-dialog" role="dialog"><div class="n-dialog__title">Delete</div></div>'
    document.body.append(later)
    await new Promise((r) => setTimeout(r, 0))
    const dialog = document.querySelector('.n-dialog')!
    expect(document.getElementById(dialog.getAttribute('aria-labelledby')!)!.textContent).toBe('Delete')
    observer.disconnect()
  })
})
