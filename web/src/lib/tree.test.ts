import { describe, expect, it } from 'vitest'
import type { Message } from '@/api/types'
import { testMessage } from '@/testing/message'
import { childrenOf, deepestLeaf, newestLeaf, pathTo, renameMessage, siblingsOf, type MessageMap } from './tree'

let clock = 0
function msg(id: string, parent: string | null, role: 'user' | 'assistant' = 'user'): Message {
  clock++
  return testMessage(id, parent, role, `2026-01-01T00:00:${String(clock).padStart(2, '0')}Z`)
}

function tree(): MessageMap {
  // u1 → a1, a2 (regenerated) ; a2 → u2 ; u1' (edited root) → a3
  const list = [
    msg('u1', null),
    msg('a1', 'u1', 'assistant'),
    msg('a2', 'u1', 'assistant'),
    msg('u2', 'a2'),
    msg('u1b', null),
    msg('a3', 'u1b', 'assistant'),
  ]
  return Object.fromEntries(list.map((m) => [m.id, m]))
}

describe('message tree', () => {
  it('lists children oldest first', () => {
    expect(childrenOf(tree(), 'u1').map((m) => m.id)).toEqual(['a1', 'a2'])
    expect(childrenOf(tree(), null).map((m) => m.id)).toEqual(['u1', 'u1b'])
  })

  it('walks from root to leaf', () => {
    expect(pathTo(tree(), 'u2').map((m) => m.id)).toEqual(['u1', 'a2', 'u2'])
    expect(pathTo(tree(), 'missing')).toEqual([])
    expect(pathTo(tree(), null)).toEqual([])
  })

  it('numbers siblings', () => {
    expect(siblingsOf(tree(), 'a2')).toEqual({ index: 1, total: 2, ids: ['a1', 'a2'] })
    expect(siblingsOf(tree(), 'u1b')).toEqual({ index: 1, total: 2, ids: ['u1', 'u1b'] })
    expect(siblingsOf(tree(), 'u2').total).toBe(1)
  })

  it('finds the newest leaf below a message', () => {
    expect(deepestLeaf(tree(), 'u1')).toBe('u2')
    expect(deepestLeaf(tree(), 'a1')).toBe('a1')
    expect(newestLeaf(tree())).toBe('a3')
    expect(newestLeaf({})).toBeNull()
  })

  it('prefers the branch last shown under each parent', () => {
    expect(deepestLeaf(tree(), 'u1', { u1: 'a1' })).toBe('a1')
    expect(deepestLeaf(tree(), 'u1', { u1: 'gone' })).toBe('u2')
  })

  it('renames a temporary id and re-points children', () => {
    const t = tree()
    renameMessage(t, 'a2', 'real')
    expect(t.a2).toBeUndefined()
    expect(t.real.id).toBe('real')
    expect(t.u2.parent_id).toBe('real')
  })

  it('survives a cycle in bad data', () => {
    const t = tree()
    t.u1.parent_id = 'u2'
    expect(pathTo(t, 'u2').length).toBeLessThanOrEqual(3)
  })
})
