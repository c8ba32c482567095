import { describe, expect, it } from 'vitest'
import { render } from './render'
import { repairStreaming } from './repair'

function text(html: string): string {
  const div = document.createElement('div')
  div.innerHTML = html
  return div.textContent ?? ''
}

describe('repairStreaming', () => {
  it.each([
    ['Hello **wor', 'Hello **wor**'],
    ['Hello *wor', 'Hello *wor*'],
    ['Hello ~~wor', 'Hello ~~wor~~'],
    ['Hello `co', 'Hello `co`'],
    ['Hello **', 'Hello '],
    ['See [the docs](https://exa', 'See [the docs](#)'],
    ['See [the do', 'See the do'],
    ['An image ![ca', 'An image '],
    ['An image ![cat](https://x.example/c', 'An image '],
    ['Math $$\\frac{a}', 'Math'],
    ['Math \\[ x^', 'Math'],
    ['- item *one', '- item *one*'],
    ['* item', '* item'],
  ])('%j → %j', (input, expected) => {
    expect(repairStreaming(input)).toBe(expected)
  })

  it('holds back a table until its delimiter row is complete', () => {
    expect(repairStreaming('| a | b |')).toBe('')
    expect(repairStreaming('| a | b |\n|---|--')).toBe('')
    expect(repairStreaming('| a | b |\n|---|---|')).toBe('| a | b |\n|---|---|')
    expect(repairStreaming('| a | b |\n|---|---|\n| 1 |')).toBe('| a | b |\n|---|---|\n| 1 |')
    expect(repairStreaming('Results:\n| a | b |')).toBe('Results:')
  })

  it('never shows a table as raw pipes while it streams', () => {
    const full = '| Language | Year |\n|---|---|\n| Python | 1991 |'
    for (let i = 1; i <= full.length; i++) {
      const div = document.createElement('div')
      div.innerHTML = render(full.slice(0, i), { streaming: true })
      expect(div.textContent ?? '', full.slice(0, i)).not.toContain('|')
    }
  })

  it('leaves open code fences alone', () => {
    const src = '```python\nx = "**"\n'
    expect(repairStreaming(src)).toBe(src)
  })

  it('does not count markers inside inline code', () => {
    expect(repairStreaming('Use `**kwargs` and **bold')).toBe('Use `**kwargs` and **bold**')
  })

  it('never shows raw markers of a half-written emphasis', () => {
    const full = 'Some **important** words and a [link](https://example.com).'
    for (let i = 1; i <= full.length; i++) {
      const shown = text(render(full.slice(0, i), { streaming: true }))
      expect(shown, full.slice(0, i)).not.toMatch(/\*\*|\]\(/)
    }
  })
})
