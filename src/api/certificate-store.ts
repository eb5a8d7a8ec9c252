/**
 * Certificates: what a listener or the context's store holds (`nopoll_ctx_set_certificate`,
 * `nopoll_listener_set_certificate`), PEM loaded, found by server name (SNI).
 * @packageDocumentation
 */
import { loadPem, type PemSource } from '../transport/tls.js';

/** A certificate with its key and optional chain, as given to a listener or the store. */
export interface CertificateInput {
  cert: PemSource;
  key: PemSource;
  chain?: PemSource | null;
}

/** An entry of the context's certificate store (`nopoll_ctx_find_certificate`), PEM already loaded. */
export interface CertificateEntry {
  /** The server name it is for, or null for the default entry. */
  readonly serverName: string | null;
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly chain: string | Buffer | null;
}

/**
 * The certificate store of a context (`nopoll_ctx_set_certificate` / `_find_certificate`). Entries are found by
 * server name; a listener with no certificate of its own presents the default entry, or the named entry that
 * matches the name a client asked for through SNI.
 */
export class CertificateStore {
  readonly #entries: CertificateEntry[] = [];
  #generation = 0;

  /**
   * Adds an entry, or replaces the one with the same server name (names compare case-insensitively).
   * @throws TypeError / TlsError for unusable PEM input (an unreadable file).
   */
  set(serverName: string | null, cert: PemSource, key: PemSource, chain?: PemSource | null): boolean {
    const name = serverName === null || serverName === '' ? null : serverName.toLowerCase();
    const entry: CertificateEntry = {
      serverName: name,
      cert: loadPem(cert, 'certificate'),
      key: loadPem(key, 'private key'),
      chain: chain == null ? null : loadPem(chain, 'certificate chain'),
    };
    const at = this.#entries.findIndex((e) => e.serverName === name);
    if (at >= 0) this.#entries[at] = entry;
    else this.#entries.push(entry);
    this.#generation++;
    return true;
  }

  /**
   * The entry for exactly `serverName`; with null, the default entry (stored without a name), or failing that the
   * first one, as noPoll's lookup does.
   */
  find(serverName: string | null = null): CertificateEntry | null {
    if (serverName === null || serverName === '') {
      return this.#entries.find((e) => e.serverName === null) ?? this.#entries[0] ?? null;
    }
    const name = serverName.toLowerCase();
    return this.#entries.find((e) => e.serverName === name) ?? null;
  }

  /** The named entry for a name a client sent through SNI: an exact name, else a `*.` wildcard one label deep. */
  match(serverName: string): CertificateEntry | null {
    const name = serverName.toLowerCase();
    const exact = this.#entries.find((e) => e.serverName === name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    if (dot <= 0) return null;
    const wildcard = `*${name.slice(dot)}`;
    return this.#entries.find((e) => e.serverName === wildcard) ?? null;
  }

  /** Removes the entry for `serverName` (null: the default entry). */
  remove(serverName: string | null): boolean {
    const name = serverName === null || serverName === '' ? null : serverName.toLowerCase();
    const at = this.#entries.findIndex((e) => e.serverName === name);
    if (at < 0) return false;
    this.#entries.splice(at, 1);
    this.#generation++;
    return true;
  }

  /** Every entry, in insertion order. */
  get entries(): readonly CertificateEntry[] {
    return this.#entries;
  }

  /** Whether an entry has a server name (only then is SNI consulted). */
  get hasNamed(): boolean {
    return this.#entries.some((e) => e.serverName !== null);
  }

  /** Changes whenever an entry is added, replaced or removed. */
  get generation(): number {
    return this.#generation;
  }
}

/** @internal Loads a certificate input. */
export function certificateEntry(input: CertificateInput): CertificateEntry {
  if (input === null || typeof input !== 'object') throw new TypeError('a certificate is { cert, key, chain? }');
  return {
    serverName: null,
    cert: loadPem(input.cert, 'certificate'),
    key: loadPem(input.key, 'private key'),
    chain: input.chain == null ? null : loadPem(input.chain, 'certificate chain'),
  };
}
