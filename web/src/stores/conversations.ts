/** The sidebar: conversations newest first, title search, cursor pagination. */
import { defineStore } from 'pinia'
import { api, ApiError } from '@/api/client'
import type { Conversation, ConversationSettings } from '@/api/types'

const PAGE = 30

export const useConversationsStore = defineStore('conversations', {
  state: () => ({
    items: [] as Conversation[],
    nextCursor: null as string | null,
    query: '',
    loading: false,
    loaded: false,
    error: null as ApiError | null,
    /** Bumped on each new listing so that late pages of an old query are dropped. */
    generation: 0,
  }),
  getters: {
    hasMore: (state) => state.nextCursor !== null,
    byId: (state) => (id: string) => state.items.find((c) => c.id === id) ?? null,
  },
  actions: {
    async refresh(query?: string): Promise<void> {
      if (query !== undefined) this.query = query
      query = this.query
      const generation = ++this.generation
      this.loading = true
      this.error = null
      try {
        const page = await api.conversations.list({ limit: PAGE, q: query || undefined })
        if (generation !== this.generation) return
        this.items = page.items
        this.nextCursor = page.next_cursor
        this.loaded = true
      } catch (err) {
        if (generation === this.generation) this.error = err as ApiError
      } finally {
        if (generation === this.generation) this.loading = false
      }
    },
    async loadMore(): Promise<void> {
      if (!this.nextCursor || this.loading) return
      const generation = this.generation
      this.loading = true
      try {
        const page = await api.conversations.list({ limit: PAGE, cursor: this.nextCursor, q: this.query || undefined })
        if (generation !== this.generation) return
        const known = new Set(this.items.map((c) => c.id))
        this.items.push(...page.items.filter((c) => !known.has(c.id)))
        this.nextCursor = page.next_cursor
      } catch (err) {
        this.error = err as ApiError
      } finally {
        if (generation === this.generation) this.loading = false
      }
    },
    async create(settings?: Partial<ConversationSettings>): Promise<Conversation> {
      const conversation = await api.conversations.create(settings ? { settings } : {})
      this.upsert(conversation)
      return conversation
    },
    /** Insert or replace, keeping newest-activity first. */
    upsert(conversation: Conversation): void {
      const rest = this.items.filter((c) => c.id !== conversation.id)
      if (this.query && !conversation.title.toLowerCase().includes(this.query.toLowerCase())) {
        this.items = rest
        return
      }
      this.items = [conversation, ...rest]
    },
    patchLocal(id: string, patch: Partial<Conversation>): void {
      const item = this.items.find((c) => c.id === id)
      if (item) Object.assign(item, patch)
    },
    /** A message was sent: move the conversation to the top. */
    touch(id: string): void {
      const item = this.items.find((c) => c.id === id)
      if (!item) return
      item.updated_at = new Date().toISOString()
      this.items = [item, ...this.items.filter((c) => c.id !== id)]
    },
    async rename(id: string, title: string): Promise<void> {
      const updated = await api.conversations.update(id, { title })
      this.patchLocal(id, { title: updated.title })
    },
    async remove(id: string): Promise<void> {
      await api.conversations.remove(id)
      this.items = this.items.filter((c) => c.id !== id)
    },
    reset(): void {
      this.$reset()
    },
  },
})
