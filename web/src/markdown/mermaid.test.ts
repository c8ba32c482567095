import { describe, expect, it } from 'vitest'
import { stripRiskyStyles } from './mermaid'

describe('stripRiskyStyles', () => {
  it('drops style statements that could fetch', () => {
    const src = [
      'graph TD',
      'A-->B',
      'classDef bad fill:url(https://evil.example/x.png)',
      'style A background:u\\72l(https://evil.example/y.png)',
      'linkStyle 0 stroke:@import',
      'classDef ok fill:#f9f,stroke:#333,stroke-width:4px',
      'style B fill:#bbf',
    ].join('\n')
    expect(stripRiskyStyles(src)).toBe(
      'graph TD\nA-->B\nclassDef ok fill:#f9f,stroke:#333,stroke-width:4px\nstyle B fill:#bbf',
    )
  })

  it('leaves labels alone', () => {
    const src = 'graph TD\nA["see (this) url"] --> B'
    expect(stripRiskyStyles(src)).toBe(src)
  })
})
