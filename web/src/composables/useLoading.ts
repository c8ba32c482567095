/** Loading what a view shows: `loading` while it runs, and the error, if any, kept to be shown. */
import { ref } from 'vue'

export function useLoading(initially = false) {
  const loading = ref(initially)
  const error = ref<unknown>(null)
  async function loadWith(work: () => Promise<void>): Promise<void> {
    loading.value = true
    error.value = null
    try {
      await work()
    } catch (err) {
      error.value = err
    } finally {
      loading.value = false
    }
  }
  return { loading, error, loadWith }
}
