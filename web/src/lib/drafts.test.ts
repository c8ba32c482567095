import { beforeEach, describe, expect, it } from 'vitest'
import { forgetDrafts, latestDraft, loadDraft, saveDraft } from './drafts'

describe('drafts', () => {
  beforeEach(() => localStorage.clear())

  it('keeps one draft per person and conversation, and nothing once empty', () => {
    saveDraft('alice', 'c1', 'half a question', 1)
    saveDraft('alice', null, 'a new chat', 2)
    saveDraft('bob', 'c1', 'bob types', 3)
    expect(loadDraft('alice', 'c1')).toBe('half a question')
    expect(loadDraft('alice', null)).toBe('a new chat')
    expect(loadDraft('bob', 'c1')).toBe('bob types')
    expect(latestDraft('alice')).toBe('a new chat')
    saveDraft('alice', 'c1', '  ', 4)
    expect(loadDraft('alice', 'c1')).toBe('')
    forgetDrafts('alice')
    expect(loadDraft('alice', null)).toBe('')
    expect(loadDraft('bob', 'c1')).toBe('bob types')
    saveDraft('bob', 'c1', '', 5)
    expect(localStorage.getItem('chatgate.drafts')).toBeNull()
  })

  it('keeps only the newest twenty', () => {
    for (let i = 0; i < 25; i++) saveDraft('alice', `c${i}`, `draft ${i}`, i)
    expect(loadDraft('alice', 'c24')).toBe('draft 24')
    expect(loadDraft('alice', 'c4')).toBe('')
    expect(loadDraft('alice', 'c5')).toBe('draft 5')
  })

  it('survives a broken stored value', () => {
    localStorage.setItem('chatgate.drafts', '[not json')
    expect(loadDraft('alice', 'c1')).toBe('')
    saveDraft('alice', 'c1', 'again', 1)
    expect(loadDraft('alice', 'c1')).toBe('again')
  })
})
