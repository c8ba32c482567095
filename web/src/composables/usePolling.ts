/**
 * Run `task` now and then every `seconds` while the component is mounted and the page is visible
 * (a hidden tab skips its turns and catches up when shown again). The request in flight is
 * aborted when the component goes away.
 */
import { onBeforeUnmount, onMounted } from 'vue'

export function usePolling(
  task: (signal: AbortSignal) => Promise<void>,
  seconds: number,
): { now: () => Promise<void> } {
  let timer: ReturnType<typeof setTimeout> | undefined
  let controller: AbortController | null = null
  let stopped = false

  async function run(): Promise<void> {
    clearTimeout(timer)
    if (stopped) return
    if (document.visibilityState !== 'hidden' && !controller) {
      controller = new AbortController()
      try {
        await task(controller.signal)
      } finally {
        controller = null
      }
    }
    clearTimeout(timer) // one chain of turns, however often `now()` was called meanwhile
    if (!stopped) timer = setTimeout(run, seconds * 1000)
  }

  const onVisible = () => {
    if (document.visibilityState === 'visible') void run()
  }
  onMounted(() => {
    document.addEventListener('visibilitychange', onVisible)
    void run()
  })
  onBeforeUnmount(() => {
    stopped = true
    clearTimeout(timer)
    controller?.abort()
    document.removeEventListener('visibilitychange', onVisible)
  })
  return { now: run }
}
