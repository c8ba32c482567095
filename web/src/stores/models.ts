/** The models this user may use (GET /api/models), loaded once; whether the bundled demo model answers. */
import { defineStore } from 'pinia'
import { api } from '@/api/client'
import type { ModelInfo } from '@/api/types'

export const useModelsStore = defineStore('models', {
  state: () => ({
    models: [] as ModelInfo[],
    defaultModel: null as string | null,
    bundledDemo: false,
    loaded: false,
    loading: false,
  }),
  getters: {
    /** A model's display name (its id when it has none or is not in the list). */
    nameOf:
      (state) =>
      (id: string): string =>
        state.models.find((m) => m.id === id)?.name || id,
  },
  actions: {
    async load(force = false): Promise<void> {
      if ((this.loaded && !force) || this.loading) return
      this.loading = true
      try {
        const list = await api.models.list()
        this.models = list.models
        this.defaultModel = list.default
        this.bundledDemo = list.bundled_demo === true
        this.loaded = true
      } finally {
        this.loading = false
      }
    },
  },
})
