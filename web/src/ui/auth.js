// Sign in / create an account. The device is remembered per username, so
// signing in again on this browser resumes its inbox.
import { useState } from 'preact/hooks';
import { html, ErrorText } from './common.js';

export function AuthScreen({ client, notice }) {
  const [mode, setMode] = useState('signin');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const registering = mode === 'register';

  const submit = async (e) => {
    e.preventDefault();
    setError('');
    const name = username.trim().toLowerCase();
    if (!/^[a-z0-9_.]{3,32}$/.test(name)) {
      setError('A username is 3–32 characters: lowercase letters, digits, “_” and “.”.');
      return;
    }
    if (registering && new TextEncoder().encode(password).length < 8) {
      setError('A password is at least 8 characters.');
      return;
    }
    setBusy(true);
    try {
      if (registering) await client.register(name, password, displayName.trim());
      else await client.signIn(name, password);
    } catch (err) {
      setError(err.status === 0 ? 'Cannot reach the server. Check your connection.' : err.message);
      setBusy(false);
    }
  };

  const formName = registering ? 'Create account' : 'Sign in';
  return html`
    <main class="auth">
      <div class="auth-card">
        <div class="brand">
          <svg viewBox="0 0 64 64" class="brand-mark" aria-hidden="true"><rect width="64" height="64" rx="14" /><path d="M16 18h32a6 6 0 0 1 6 6v14a6 6 0 0 1-6 6H30l-10 8v-8h-4a6 6 0 0 1-6-6V24a6 6 0 0 1 6-6z" /></svg>
          <h1>natter</h1>
        </div>
        <p class="tagline">${registering ? 'Create your account to start chatting.' : 'Sign in to your chats.'}</p>
        ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
        <form aria-label=${formName} onSubmit=${submit} novalidate>
          <label class="field">
            <span>Username</span>
            <input name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus
              value=${username} onInput=${(e) => setUsername(e.currentTarget.value)} />
          </label>
          ${registering ? html`
            <label class="field">
              <span>Display name</span>
              <input name="display_name" autocomplete="name" maxlength="50" placeholder="optional"
                value=${displayName} onInput=${(e) => setDisplayName(e.currentTarget.value)} />
            </label>` : null}
          <label class="field">
            <span>Password</span>
            <input name="password" type="password" required autocomplete=${registering ? 'new-password' : 'current-password'}
              value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} />
          </label>
          <${ErrorText} error=${error} />
          <button class="primary wide" type="submit" disabled=${busy}>${busy ? 'Please wait…' : formName}</button>
        </form>
        <p class="switch">
          ${registering ? 'Already have an account?' : 'New here?'}
          <button type="button" class="link" onClick=${() => { setMode(registering ? 'signin' : 'register'); setError(''); }}>
            ${registering ? 'Sign in instead' : 'Create an account'}
          </button>
        </p>
      </div>
    </main>`;
}
