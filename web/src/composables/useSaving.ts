/** A dialog's save: `busy` while it runs, and a toast with the error's sentence when it fails. */
import { useMessage } from 'naive-ui'
import { ref } from 'vue'

export function useSaving(errorText: (error: unknown) => string) {
  const toast = useMessage()
  const busy = ref(false)
  async function saving(work: () => Promise<void>): Promise<void> {
    busy.value = true
    try {
      await work()
    } catch (err) {
      toast.error(errorText(err))
    } finally {
      busy.value = false
    }
  }
  return { busy, saving, toast }
}
