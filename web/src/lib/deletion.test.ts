import { describe, expect, it } from 'vitest'
import type { Message } from '@/api/types'
import { testMessage } from '@/testing/message'
import { deletionScope, deletionText } from './deletion'
import type { MessageMap } from './tree'

function m(id: string, parent: string | null, role: 'user' | 'assistant'): Message {
  return testMessage(id, parent, role, `2026-01-01T00:00:0${id.length}Z`)
}

// q1 ─ a1 ─ q2 ─ a2
//    └ a1b      └ a2b ─ q3 ─ a3
const tree: MessageMap = Object.fromEntries(
  [
    m('q1', null, 'user'),
    m('a1', 'q1', 'assistant'),
    m('a1b', 'q1', 'assistant'),
    m('q2', 'a1', 'user'),
    m('a2', 'q2', 'assistant'),
    m('a2b', 'q2', 'assistant'),
    m('q3', 'a2b', 'user'),
    m('a3', 'q3', 'assistant'),
    m('q9', null, 'user'),
  ].map((x) => [x.id, x]),
)

describe('what deleting a message takes with it', () => {
  it('an answer with nothing below goes alone', () => {
    const scope = deletionScope(tree, 'a3')!
    expect(scope.ids).toEqual(['a3'])
    expect(deletionText(scope)).toEqual(['chat.deleteAnswerOnly', 1])
  })

  it('an answer takes the later messages below it', () => {
    const scope = deletionScope(tree, 'a2b')!
    expect(scope.ids.sort()).toEqual(['a2b', 'a3', 'q3'])
    expect(deletionText(scope)).toEqual(['chat.deleteAnswerAndLater', 2])
  })

  it('a question takes its answers, and names them', () => {
    const scope = deletionScope(tree, 'q3')!
    expect(scope).toMatchObject({ answers: 1, later: 0 })
    expect(deletionText(scope)).toEqual(['chat.deleteQuestionAnswers', 1])
    const two = { ...tree }
    delete two.q3
    delete two.a3
    expect(deletionText(deletionScope(two, 'q2')!)).toEqual(['chat.deleteQuestionAnswers', 2])
  })

  it('a question with turns below its answers counts everything that goes', () => {
    const scope = deletionScope(tree, 'q1')!
    expect(scope.ids.length).toBe(8)
    expect(scope).toMatchObject({ answers: 2, later: 5 })
    expect(deletionText(scope)).toEqual(['chat.deleteQuestionAndLater', 7])
  })

  it('a question without an answer goes alone; an unknown id is nothing', () => {
    expect(deletionText(deletionScope(tree, 'q9')!)).toEqual(['chat.deleteQuestionOnly', 1])
    expect(deletionScope(tree, 'nope')).toBeNull()
  })
})
