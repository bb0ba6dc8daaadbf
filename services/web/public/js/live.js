// Live order status: a single-use ticket bought with the bearer token (EventSource cannot send headers,
// and a JWT in a URL would be logged), then Server-Sent Events from main (through this server's proxy).
// Each state goes to onState; a stream that ends early (idle, a restart) or breaks is reopened with a new
// ticket and the last event id (an unchanged state is not sent again); after a few failures in a row,
// or when the stream is not available at all, onFail is called once and the page polls instead.
import { api } from './api.js'

const RETRIES = 3

export function watchOrder(orderId, { onState, onFail }) {
  let es = null
  let stopped = false
  let lastId = ''
  let failures = 0
  let timer = null

  const close = () => {
    es?.close()
    es = null
  }
  const fail = () => {
    if (stopped) return
    stopped = true
    close()
    onFail()
  }
  const retry = () => {
    if (stopped) return
    if (++failures > RETRIES) return fail()
    timer = setTimeout(connect, 500 * failures)
  }
  async function connect() {
    timer = null
    if (typeof EventSource !== 'function') return fail()
    let ticket
    try {
      ticket = await api(`/orders/${encodeURIComponent(orderId)}/stream-ticket`, { method: 'POST' })
    } catch {
      return fail()
    }
    if (stopped) return
    es = new EventSource(lastId ? `${ticket.eventsUrl}&lastEventId=${encodeURIComponent(lastId)}` : ticket.eventsUrl)
    es.addEventListener('order', (e) => {
      failures = 0
      lastId = e.lastEventId || lastId
      onState(JSON.parse(e.data).order)
    })
    es.addEventListener('end', (e) => {
      close()
      let reason = 'final'
      try {
        reason = JSON.parse(e.data).reason
      } catch {
        /* keep final */
      }
      // Idle: nothing happened for a long time; simply reopen. Shutdown / slow: count it as a failure.
      if (reason === 'idle') timer = setTimeout(connect, 0)
      else if (reason !== 'final') retry()
    })
    es.onerror = () => {
      close()
      retry()
    }
  }
  void connect()
  return {
    stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      close()
    },
  }
}
