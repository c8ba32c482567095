/**
 * The open conversation: its message tree, the branch on screen, and its live generations.
 * Every stream (send, edit-and-resend, regenerate, continue, re-attach) goes through `run()`,
 * which feeds the one SSE reader's events into `applyEvent()`.
 */
import { defineStore } from 'pinia'
import { uploadAgain } from '@/api/attachments'
import { api, ApiError, streams, type StreamRequest } from '@/api/client'
import { deleteMessage } from '@/api/messages'
import { runGenerationStream, type StreamOutcome } from '@/api/sse'
import type { Attachment, Conversation, ConversationSettings, Message, StreamEvent } from '@/api/types'
import { addToolCallPiece } from '@/lib/attachments'
import { deepestLeaf, newestLeaf, pathTo, renameMessage, siblingsOf, type MessageMap } from '@/lib/tree'
import { useChatDefaultsStore } from './chatDefaults'
import { useConversationsStore } from './conversations'

export type LivePhase = 'connecting' | 'queued' | 'waiting' | 'streaming'
type Kind = 'send' | 'regenerate' | 'continue' | 'attach'

export interface LiveGeneration {
  kind: Kind
  phase: LivePhase
  queuePosition: number | null
  stopRequested: boolean
}

/** When the reasoning of an answer streamed live (ms since the epoch, first and last piece). */
export interface ThinkingTime {
  first: number
  last: number
}

export interface PendingError {
  error: ApiError
  retry: (() => Promise<void>) | null
}

interface RunContext {
  kind: Kind
  /** The assistant message being written (a temporary id until `start`). */
  messageId: string
  userTempId: string | null
  previousLeaf: string | null
  retry: (() => Promise<void>) | null
  /** Re-attaching without Last-Event-ID: the server replays the answer from its first event. */
  replay: boolean
}

const controllers = new Map<string, AbortController>()
let tempCounter = 0
const tempId = (prefix: string) => `tmp-${prefix}-${Date.now().toString(36)}-${++tempCounter}`
export const isTempId = (id: string) => id.startsWith('tmp-')

export function defaultSettings(): ConversationSettings {
  return {
    model: null,
    system_prompt: '',
    temperature: null,
    top_p: null,
    max_tokens: null,
    context_messages: 20,
    context_tokens: null,
  }
}

function placeholder(
  id: string,
  parentId: string | null,
  role: 'user' | 'assistant',
  content: string,
  attachments: Attachment[] = [],
): Message {
  const now = new Date().toISOString()
  return {
    id,
    parent_id: parentId,
    role,
    content,
    reasoning: '',
    status: role === 'user' ? 'complete' : 'queued',
    model: null,
    error: null,
    prompt_tokens: null,
    completion_tokens: null,
    created_at: now,
    updated_at: now,
    attachments,
    parts: [],
  }
}

export const useChatStore = defineStore('chat', {
  state: () => ({
    conversationId: null as string | null,
    conversation: null as Conversation | null,
    draftSettings: defaultSettings(),
    messages: {} as MessageMap,
    currentLeafId: null as string | null,
    /** parent id → the child last on screen, so moving between siblings returns to the same branch. */
    shownChild: {} as Record<string, string>,
    loading: false,
    loadError: null as ApiError | null,
    live: {} as Record<string, LiveGeneration>,
    pendingError: null as PendingError | null,
    /** Answers whose reasoning this tab saw arrive live (not replayed), for "Thought for 12 s". */
    thinking: {} as Record<string, ThinkingTime>,
  }),
  getters: {
    thread: (state): Message[] => pathTo(state.messages, state.currentLeafId),
    isGenerating: (state): boolean => Object.keys(state.live).length > 0,
    settings: (state): ConversationSettings => state.conversation?.settings ?? state.draftSettings,
    siblings: (state) => (id: string) => siblingsOf(state.messages, id),
  },
  actions: {
    /** Leave the current conversation: stop reading its streams (the server keeps generating). */
    closeStreams(): void {
      for (const controller of controllers.values()) controller.abort()
      controllers.clear()
      this.live = {}
    },

    startNew(): void {
      this.closeStreams()
      // A new chat starts from the account's new-chat defaults.
      this.draftSettings = { ...defaultSettings(), ...useChatDefaultsStore().settings }
      this.conversationId = null
      this.conversation = null
      this.messages = {}
      this.currentLeafId = null
      this.shownChild = {}
      this.thinking = {}
      this.loadError = null
      this.pendingError = null
      this.loading = false
    },

    async open(id: string): Promise<void> {
      this.startNew()
      this.conversationId = id
      this.loading = true
      try {
        const [conversation, tree] = await Promise.all([api.conversations.get(id), api.conversations.messages(id)])
        if (this.conversationId !== id) return
        this.conversation = conversation
        this.messages = Object.fromEntries(tree.messages.map((m) => [m.id, m]))
        const leaf = tree.current_leaf_id ?? conversation.current_leaf_id
        this.currentLeafId = leaf && this.messages[leaf] ? leaf : newestLeaf(this.messages)
        this.attachLive()
      } catch (err) {
        if (this.conversationId === id) this.loadError = err as ApiError
      } finally {
        if (this.conversationId === id) this.loading = false
      }
    },

    /** Re-read the tree from the server (after a lost stream), keeping the branch on screen. */
    async reload(): Promise<void> {
      const id = this.conversationId
      if (!id) return
      const tree = await api.conversations.messages(id)
      if (this.conversationId !== id) return
      const live = new Set(Object.keys(this.live))
      const merged: MessageMap = Object.fromEntries(tree.messages.map((m) => [m.id, m]))
      for (const [key, m] of Object.entries(this.messages)) if (live.has(key) && !merged[key]) merged[key] = m
      this.messages = merged
      if (!this.currentLeafId || !merged[this.currentLeafId])
        this.currentLeafId = tree.current_leaf_id ?? newestLeaf(merged)
      this.attachLive()
    },

    attachLive(): void {
      for (const m of Object.values(this.messages)) {
        if (m.role === 'assistant' && (m.status === 'queued' || m.status === 'streaming') && !this.live[m.id]) {
          void this.run(streams.attach(m.id), {
            kind: 'attach',
            messageId: m.id,
            userTempId: null,
            previousLeaf: null,
            retry: null,
            replay: true,
          })
        }
      }
    },

    /** The new-chat screen turns into a stored conversation on the first message. */
    adopt(conversation: Conversation): void {
      this.conversationId = conversation.id
      this.conversation = conversation
    },

    /** Ask; `files` are uploaded, unsent attachments that go with the question. */
    async send(content: string, parent?: string | null, files: Attachment[] = []): Promise<void> {
      const parentId = parent === undefined ? this.currentLeafId : parent
      const conversationId = this.conversationId
      if (!conversationId) throw new Error('no conversation')
      this.pendingError = null
      this.rememberShown()
      const userId = tempId('user')
      const assistantId = tempId('assistant')
      this.messages[userId] = placeholder(userId, parentId, 'user', content, files)
      this.messages[assistantId] = placeholder(assistantId, userId, 'assistant', '')
      const previousLeaf = this.currentLeafId
      this.currentLeafId = assistantId
      const model = this.conversation?.settings.model ?? undefined
      const attachments = files.map((f) => f.id)
      await this.run(
        streams.send(conversationId, {
          content,
          parent_id: parentId,
          ...(model ? { model } : {}),
          ...(attachments.length ? { attachments } : {}),
        }),
        {
          kind: 'send',
          messageId: assistantId,
          userTempId: userId,
          previousLeaf,
          replay: false,
          retry: () => this.send(content, parentId, files),
        },
      )
    },

    /**
     * A new version of a question, with the same files: a sent file belongs to its message, so
     * the files are uploaded again as new attachments of the new question.
     */
    async editAndResend(userMessageId: string, content: string): Promise<void> {
      const original = this.messages[userMessageId]
      if (!original) return
      let files: Attachment[] = []
      if (original.attachments?.length) {
        try {
          files = await uploadAgain(original.attachments)
        } catch (err) {
          this.pendingError = {
            error: err instanceof ApiError ? err : new ApiError(0, 'network_error', String(err)),
            retry: null,
          }
          return
        }
      }
      await this.send(content, original.parent_id, files)
    },

    /** A new sibling answer; `messageId` is the assistant answer to replace or its question. */
    async regenerate(messageId: string): Promise<void> {
      const conversationId = this.conversationId
      const target = this.messages[messageId]
      if (!conversationId || !target) return
      const userId = target.role === 'user' ? target.id : target.parent_id
      if (!userId) return
      this.pendingError = null
      this.rememberShown()
      const assistantId = tempId('assistant')
      this.messages[assistantId] = placeholder(assistantId, userId, 'assistant', '')
      const previousLeaf = this.currentLeafId
      this.currentLeafId = assistantId
      await this.run(streams.regenerate(conversationId, userId), {
        kind: 'regenerate',
        messageId: assistantId,
        userTempId: null,
        previousLeaf,
        replay: false,
        retry: () => this.regenerate(messageId),
      })
    },

    async continueAnswer(messageId: string): Promise<void> {
      const conversationId = this.conversationId
      const message = this.messages[messageId]
      if (!conversationId || !message || message.role !== 'assistant') return
      this.pendingError = null
      const previous = { status: message.status, error: message.error }
      message.status = 'queued'
      message.error = null
      try {
        await this.run(streams.continue(conversationId, messageId), {
          kind: 'continue',
          messageId,
          userTempId: null,
          previousLeaf: this.currentLeafId,
          replay: false,
          retry: () => this.continueAnswer(messageId),
        })
      } finally {
        if (this.messages[messageId]?.status === 'queued' && !this.live[messageId]) Object.assign(message, previous)
      }
    },

    async run(request: StreamRequest, ctx: RunContext): Promise<StreamOutcome | 'refused'> {
      const conversationId = this.conversationId
      const controller = new AbortController()
      controllers.set(ctx.messageId, controller)
      this.live[ctx.messageId] = { kind: ctx.kind, phase: 'connecting', queuePosition: null, stopRequested: false }
      let outcome: StreamOutcome | 'refused'
      try {
        outcome = await runGenerationStream({
          request,
          generationId: isTempId(ctx.messageId) ? null : ctx.messageId,
          signal: controller.signal,
          onEvent: (event) => {
            if (this.conversationId === conversationId) this.applyEvent(ctx, event)
          },
        })
      } catch (err) {
        outcome = 'refused'
        if (this.conversationId === conversationId) this.refused(ctx, err)
      } finally {
        const current = controllers.get(ctx.messageId)
        if (current === controller) controllers.delete(ctx.messageId)
        if (this.conversationId === conversationId && controller.signal.aborted === false)
          delete this.live[ctx.messageId]
      }
      if (this.conversationId !== conversationId || outcome === 'aborted') return outcome
      if (outcome === 'lost') await this.reload().catch(() => undefined)
      if (outcome === 'done') this.finished(ctx)
      return outcome
    },

    /** The server refused before streaming: undo the optimistic messages and offer a retry. */
    refused(ctx: RunContext, err: unknown): void {
      const error = err instanceof ApiError ? err : new ApiError(0, 'network_error', String(err))
      if (ctx.kind !== 'continue' && ctx.kind !== 'attach') {
        delete this.messages[ctx.messageId]
        if (ctx.userTempId) delete this.messages[ctx.userTempId]
        this.currentLeafId = ctx.previousLeaf
      }
      this.pendingError = { error, retry: ctx.retry }
    },

    finished(ctx: RunContext): void {
      const conversations = useConversationsStore()
      if (!this.conversationId) return
      conversations.touch(this.conversationId)
      // The first answer usually names the conversation; fetch it if no `title` event came.
      if (ctx.kind === 'send' && this.thread.length <= 2) {
        const id = this.conversationId
        void api.conversations
          .get(id)
          .then((conversation) => {
            if (this.conversationId === id && this.conversation) this.conversation.title = conversation.title
            conversations.patchLocal(id, { title: conversation.title })
          })
          .catch(() => undefined)
      }
    },

    applyEvent(ctx: RunContext, event: StreamEvent): void {
      const live = this.live[ctx.messageId]
      const message = this.messages[ctx.messageId]
      switch (event.event) {
        case 'start': {
          const { user_message_id: userId, message_id: messageId, model } = event.data
          if (ctx.userTempId && userId) {
            renameMessage(this.messages, ctx.userTempId, userId)
            ctx.userTempId = null
          }
          if (messageId && messageId !== ctx.messageId) {
            renameMessage(this.messages, ctx.messageId, messageId)
            if (this.currentLeafId === ctx.messageId) this.currentLeafId = messageId
            const state = this.live[ctx.messageId]
            delete this.live[ctx.messageId]
            const controller = controllers.get(ctx.messageId)
            controllers.delete(ctx.messageId)
            if (controller) controllers.set(messageId, controller)
            const thinking = this.thinking[ctx.messageId]
            delete this.thinking[ctx.messageId]
            if (thinking) this.thinking[messageId] = thinking
            ctx.messageId = messageId
            if (state) this.live[messageId] = state
            if (state?.stopRequested) void api.generations.stop(messageId).catch(() => undefined)
          }
          const m = this.messages[ctx.messageId]
          if (m) {
            if (model) m.model = model
            if (ctx.replay) {
              m.content = ''
              m.reasoning = ''
              m.parts = []
            }
          }
          return
        }
        case 'queued':
          if (live) {
            live.phase = 'queued'
            live.queuePosition = event.data.position
          }
          if (message) message.status = 'queued'
          return
        case 'streaming':
          if (live) {
            live.phase = 'waiting'
            live.queuePosition = null
          }
          if (message) message.status = 'streaming'
          return
        case 'delta':
          if (live && live.phase !== 'streaming') {
            live.phase = 'streaming'
            live.queuePosition = null
          }
          if (message) {
            message.status = 'streaming'
            message.content += event.data.text
          }
          return
        case 'tool_call':
          if (live && live.phase !== 'streaming') {
            live.phase = 'streaming'
            live.queuePosition = null
          }
          if (message) {
            message.status = 'streaming'
            if (!message.parts) message.parts = []
            addToolCallPiece(message.parts, event.data)
          }
          return
        case 'reasoning':
          if (live && live.phase !== 'streaming') {
            live.phase = 'streaming'
            live.queuePosition = null
          }
          if (message) {
            message.status = 'streaming'
            message.reasoning = (message.reasoning || '') + event.data.text
            // A replay delivers old pieces all at once: only pieces seen live measure the thinking.
            if (!ctx.replay) {
              const now = Date.now()
              const seen = this.thinking[ctx.messageId]
              if (seen) seen.last = now
              else this.thinking[ctx.messageId] = { first: now, last: now }
            }
          }
          return
        case 'reset':
          if (message) {
            message.content = event.data.text
            if (typeof event.data.reasoning === 'string') message.reasoning = event.data.reasoning
          }
          return
        case 'usage':
          if (message) {
            message.prompt_tokens = event.data.prompt_tokens
            message.completion_tokens = event.data.completion_tokens
          }
          return
        case 'title':
          if (this.conversation) this.conversation.title = event.data.title
          if (this.conversationId) useConversationsStore().patchLocal(this.conversationId, { title: event.data.title })
          return
        case 'error':
          if (message) message.error = { ...event.data } // with its extras: when a resting key is tried again
          return
        case 'done':
          if (message) {
            message.status = event.data.status
            message.updated_at = new Date().toISOString()
          }
          delete this.live[ctx.messageId]
          return
      }
    },

    /** Stop every generation of this conversation (works from any tab). */
    async stop(): Promise<void> {
      const ids = Object.keys(this.live)
      await Promise.all(
        ids.map(async (id) => {
          const live = this.live[id]
          if (!live) return
          live.stopRequested = true
          if (isTempId(id)) return // stopped as soon as the server names it (see `start`)
          try {
            await api.generations.stop(id)
          } catch {
            // already finished: its `done` event is on the way
          }
        }),
      )
    },

    /** Remember, for every message on screen, which child of its parent is shown. */
    rememberShown(): void {
      for (const m of this.thread) if (m.parent_id) this.shownChild[m.parent_id] = m.id
    },

    /** Show another sibling (question or answer) and the newest branch below it. */
    async showSibling(messageId: string): Promise<void> {
      if (!this.messages[messageId]) return
      this.rememberShown()
      const leaf = deepestLeaf(this.messages, messageId, this.shownChild)
      this.currentLeafId = leaf
      if (this.conversationId && !isTempId(leaf)) {
        await api.conversations.update(this.conversationId, { current_leaf_id: leaf })
      }
    },

    async updateSettings(patch: Partial<ConversationSettings>): Promise<void> {
      if (!this.conversation) {
        // Before its first message, a chat's settings are the account's new-chat defaults.
        this.draftSettings = { ...this.draftSettings, ...patch }
        this.draftSettings = { ...defaultSettings(), ...(await useChatDefaultsStore().save(this.draftSettings)) }
        return
      }
      const updated = await api.conversations.update(this.conversation.id, { settings: patch })
      this.conversation.settings = updated.settings
    },

    /** Delete a message and everything below it (the server stops answers being written there). */
    async deleteMessage(messageId: string): Promise<void> {
      const conversationId = this.conversationId
      if (!conversationId || isTempId(messageId)) return
      const result = await deleteMessage(conversationId, messageId)
      if (this.conversationId !== conversationId) return
      for (const id of result.deleted) {
        controllers.get(id)?.abort()
        controllers.delete(id)
        delete this.live[id]
        delete this.thinking[id]
        delete this.messages[id]
      }
      for (const [parent, child] of Object.entries(this.shownChild)) {
        if (!this.messages[parent] || !this.messages[child]) delete this.shownChild[parent]
      }
      this.currentLeafId = result.current_leaf_id
      if (this.conversation) this.conversation.current_leaf_id = result.current_leaf_id
    },

    async rename(title: string): Promise<void> {
      if (!this.conversation) return
      await useConversationsStore().rename(this.conversation.id, title)
      this.conversation.title = title
    },
  },
})
