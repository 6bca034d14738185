import { parse } from 'node-html-parser';

/**
 * A minimal browser for the authorization page: keeps cookies, reads the page's one form, fills
 * it in and submits it the way Chromium does (same URL, urlencoded body, `Origin: null` under
 * our no-referrer policy, `Sec-Fetch-Site: same-origin`), following a 303 back to our own page but
 * not the final redirect to the client.
 */
export class Browser {
  cookies = new Map<string, string>();

  async get(url: string | URL): Promise<Page> {
    const response = await fetch(url, { headers: this.headers(), redirect: 'manual' });
    this.keepCookies(response);
    return new Page(String(url), response, await response.text());
  }

  async submit(page: Page, fields: Record<string, string | string[]>, button: { name: string; value: string }): Promise<Response> {
    const root = parse(page.body);
    const form = root.querySelector('form[method="post"]');
    if (!form) throw new Error(`no form on the page:\n${page.body}`);
    const body = new URLSearchParams();
    for (const input of form.querySelectorAll('input')) {
      const name = input.getAttribute('name');
      if (name && input.getAttribute('type') === 'hidden') body.set(name, input.getAttribute('value') ?? '');
    }
    // A list is a field repeated, as checkboxes of one name are sent.
    for (const [name, value] of Object.entries(fields)) {
      body.delete(name);
      for (const one of [value].flat()) body.append(name, one);
    }
    body.set(button.name, button.value);
    const action = form.getAttribute('action');
    const target = new URL(action ?? page.url, page.url);
    const response = await fetch(target, {
      method: 'POST',
      // What Chromium sends for a same-origin form on a page with Referrer-Policy: no-referrer.
      headers: { ...this.headers(), 'content-type': 'application/x-www-form-urlencoded', origin: 'null', 'sec-fetch-site': 'same-origin' },
      body,
      redirect: 'manual',
    });
    this.keepCookies(response);
    // A refusal answers 303 back to the consent page (POST/redirect/GET): followed, as Chromium does.
    const back = response.status === 303 ? new URL(response.headers.get('location')!, target) : undefined;
    if (back?.origin === target.origin) {
      const followed = await fetch(back, { headers: this.headers(), redirect: 'manual' });
      this.keepCookies(followed);
      return followed;
    }
    return response;
  }

  private headers(): Record<string, string> {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    return cookie ? { cookie } : {};
  }

  private keepCookies(response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

export class Page {
  url: string;
  response: Response;
  body: string;
  constructor(url: string, response: Response, body: string) {
    this.url = url;
    this.response = response;
    this.body = body;
  }
  get status() {
    return this.response.status;
  }
  /** The page's visible text, for assertions on what a user reads. */
  text(): string {
    return parse(this.body).querySelector('main')?.text.replace(/\s+/g, ' ').trim() ?? '';
  }
}
