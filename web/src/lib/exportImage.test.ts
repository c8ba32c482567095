import { describe, expect, it } from 'vitest'
import { keptInPicture, safeFilename } from './exportImage'

describe('the saved picture', () => {
  it('leaves out buttons and toolbars, keeps text and an image placeholder', () => {
    const el = (html: string) => {
      const div = document.createElement('div')
      div.innerHTML = html
      return div.firstElementChild as HTMLElement
    }
    expect(keptInPicture(el('<button class="code-copy">Copy</button>'))).toBe(false)
    expect(keptInPicture(el('<button class="n-button">Retry</button>'))).toBe(false)
    expect(keptInPicture(el('<div class="message-toolbar" data-export-ignore></div>'))).toBe(false)
    expect(keptInPicture(el('<button class="md-image">Load image</button>'))).toBe(true)
    expect(keptInPicture(el('<span class="katex">x</span>'))).toBe(true)
    expect(keptInPicture(document.createTextNode('text'))).toBe(true)
  })
})

describe('file names', () => {
  it('come from the title, without what file systems refuse', () => {
    expect(safeFilename('Pancakes: a recipe?', 'png')).toBe('Pancakes a recipe.png')
    expect(safeFilename('a/b\\c*d|e"f<g>h', 'html')).toBe('a b c d e f g h.html')
    expect(safeFilename('...hidden', 'md')).toBe('hidden.md')
    expect(safeFilename('  \u0000\u0007 ', 'json')).toBe('chatgate.json')
    expect(safeFilename('数学与代码', 'html')).toBe('数学与代码.html')
    expect(safeFilename('x'.repeat(200), 'png')).toBe(`${'x'.repeat(80)}.png`)
  })
})
