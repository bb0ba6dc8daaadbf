// Login and register (email + password) → token in localStorage.
import { api, appConfig, session } from '../api.js'
import { alertBox, h, mount, spinner } from '../dom.js'

const safeNext = (next) => (next && next.startsWith('/') && !next.startsWith('//') ? next : '/')

export async function loginPage(ctx) {
  const next = safeNext(ctx.query.get('next'))
  const config = await appConfig()
  let mode = ctx.query.get('mode') === 'register' ? 'register' : 'login'
  const root = h('div', { class: 'page auth' })

  const draw = () => {
    const email = h('input', {
      type: 'email',
      name: 'email',
      id: 'email',
      autocomplete: 'email',
      required: true,
      placeholder: 'you@example.com',
    })
    const password = h('input', {
      type: 'password',
      name: 'password',
      id: 'password',
      autocomplete: mode === 'login' ? 'current-password' : 'new-password',
      required: true,
      minlength: 8,
      placeholder: '至少 8 位',
    })
    const name = h('input', { type: 'text', name: 'name', id: 'name', autocomplete: 'nickname', maxlength: 64, placeholder: '选填' })
    const msg = h('div', { id: 'auth-msg' })
    const submit = h('button', { class: 'btn primary block big', type: 'submit', id: 'auth-submit' }, mode === 'login' ? '登录' : '注册')
    const onSubmit = async (e) => {
      e.preventDefault()
      const body = { email: email.value.trim(), password: password.value }
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(body.email)) return mount(msg, alertBox('error', '请输入有效的邮箱地址'))
      if (body.password.length < 8) return mount(msg, alertBox('error', '密码至少 8 位'))
      if (mode === 'register' && name.value.trim()) body.name = name.value.trim()
      submit.disabled = true
      mount(msg, alertBox('info', spinner(), mode === 'login' ? ' 正在登录…' : ' 正在注册…'))
      try {
        const data = await api(`/auth/${mode}`, { method: 'POST', body, auth: false })
        session.save(data.token, data.user)
        ctx.navigate(next, { replace: true })
      } catch (err) {
        if (!ctx.active) return
        mount(msg, alertBox('error', err.message))
        submit.disabled = false
      }
    }
    const tab = (m, text) =>
      h(
        'button',
        {
          type: 'button',
          role: 'tab',
          'aria-selected': String(mode === m),
          class: `tab${mode === m ? ' active' : ''}`,
          dataset: { tab: m },
          onClick: () => {
            mode = m
            draw()
          },
        },
        text,
      )
    mount(
      root,
      h('h1', null, mode === 'login' ? '登录' : '注册新账号'),
      h(
        'div',
        { class: 'card' },
        h('div', { class: 'tabs', role: 'tablist' }, tab('login', '登录'), tab('register', '注册')),
        h(
          'form',
          { onSubmit, novalidate: true },
          h('label', { for: 'email' }, '邮箱'),
          email,
          h('label', { for: 'password' }, '密码'),
          password,
          mode === 'register' ? [h('label', { for: 'name' }, '昵称'), name] : null,
          msg,
          submit,
        ),
        config.sandboxUrl && mode === 'login'
          ? h('p', { class: 'muted small' }, '演示账号：demo@example.com / demo12345（开发环境）')
          : null,
      ),
    )
  }
  if (session.token && session.user) {
    return h(
      'div',
      { class: 'page auth' },
      h('h1', null, '已登录'),
      alertBox('ok', `当前账号：${session.user.email}`),
      h('a', { class: 'btn primary', href: next, 'data-link': '' }, '继续'),
      ' ',
      h(
        'button',
        {
          class: 'btn ghost',
          onClick: () => {
            session.clear()
            ctx.navigate(location.pathname + location.search, { replace: true })
          },
        },
        '切换账号',
      ),
    )
  }
  draw()
  return root
}
