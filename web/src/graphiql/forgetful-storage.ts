// GraphiQL keeps its tabs, history and (when asked) headers in the Storage it is given;
// the history holds each operation's headers, bearer tokens included. This storage keeps
// everything in memory, so a reload forgets the token, until the user switches on
// "Persist headers" in GraphiQL's settings: from then on (and on later visits, until it
// is switched off) it writes through to localStorage.

const PREFIX = "graphiql:";
export const PERSIST_HEADERS_KEY = `${PREFIX}shouldPersistHeaders`;

function browserStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // storage disabled: memory only
  }
}

export class ForgetfulStorage {
  private readonly memory = new Map<string, string>();
  private readonly local = browserStorage();

  /** Whether the user asked GraphiQL to remember headers (and so everything else). */
  get remembering(): boolean {
    return this.local?.getItem(PERSIST_HEADERS_KEY) === "true";
  }

  get length(): number {
    return this.remembering ? this.ownLocalKeys().length : this.memory.size;
  }

  getItem(key: string): string | null {
    if (this.remembering) return this.local!.getItem(key);
    return this.memory.get(key) ?? null;
  }

  setItem(key: string, value: string): void {
    if (key === PERSIST_HEADERS_KEY) {
      if (value === "true") this.remember();
      else this.forget();
      return;
    }
    if (this.remembering) this.local!.setItem(key, value);
    else this.memory.set(key, value);
  }

  removeItem(key: string): void {
    this.memory.delete(key);
    if (this.remembering) this.local!.removeItem(key);
  }

  clear(): void {
    this.memory.clear();
    for (const key of this.ownLocalKeys()) this.local!.removeItem(key);
  }

  private remember(): void {
    if (!this.local || this.remembering) return;
    for (const [key, value] of this.memory) this.local.setItem(key, value);
    this.local.setItem(PERSIST_HEADERS_KEY, "true");
  }

  private forget(): void {
    if (!this.local) return;
    for (const key of this.ownLocalKeys()) {
      const value = this.local.getItem(key);
      if (value !== null && key !== PERSIST_HEADERS_KEY) this.memory.set(key, value);
      this.local.removeItem(key);
    }
  }

  private ownLocalKeys(): string[] {
    if (!this.local) return [];
    const keys: string[] = [];
    for (let i = 0; i < this.local.length; i += 1) {
      const key = this.local.key(i);
      if (key?.startsWith(PREFIX)) keys.push(key);
    }
    return keys;
  }
}
