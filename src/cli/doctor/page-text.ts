import { decodeEntities } from '../oauth-client.ts';

/** What a user reads on one of the server's pages: its alert when it has one, else its main text. */
export function pageText(html: string): string {
  // The consent page says why it refused in its alert (the upstream refused the key, …).
  const alert = /<p class="error" role="alert">([\s\S]*?)<\/p>/.exec(html)?.[1];
  const main = alert ?? /<main[^>]*>([\s\S]*)<\/main>/.exec(html)?.[1] ?? html;
  return decodeEntities(main.replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
}
