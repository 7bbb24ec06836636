// The class vocabulary: label strings sorted, each with its index. Saved with every checkpoint so
// that predict writes the original label strings back.

/**
 * Python's string order: by Unicode code point. JavaScript's default sort compares UTF-16 code
 * units, which puts a character beyond U+FFFF (a surrogate pair) before U+E000–U+FFFF.
 */
export function byCodePoint(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return a.length - i - (b.length - j);
}

export class ClassVocabulary {
  readonly #index: Map<string, number>;

  constructor(readonly classes: readonly string[]) {
    this.#index = new Map(classes.map((c, i) => [c, i]));
    if (this.#index.size !== classes.length) throw new Error('ClassVocabulary: duplicate class names');
  }

  /** The sorted distinct labels (Python's string order, by code point, as sklearn's LabelEncoder and torchvision's ImageFolder). */
  static fromLabels(labels: Iterable<string>): ClassVocabulary {
    return new ClassVocabulary([...new Set(labels)].sort(byCodePoint));
  }

  get size(): number {
    return this.classes.length;
  }

  /** The index of a label; `where` names the file and row in the error for an unknown one. */
  index(label: string, where = ''): number {
    const i = this.#index.get(label);
    if (i === undefined) throw new Error(`${where ? `${where}: ` : ''}unknown label '${label}' (not among the ${this.size} classes the model was trained on)`);
    return i;
  }

  label(i: number): string {
    const c = this.classes[i];
    if (c === undefined) throw new Error(`ClassVocabulary: no class ${i} (have ${this.size})`);
    return c;
  }

  toJSON(): { classes: string[] } {
    return { classes: [...this.classes] };
  }

  static fromJSON(json: unknown, source = 'vocabulary'): ClassVocabulary {
    const classes = (json as { classes?: unknown })?.classes;
    if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string')) throw new Error(`${source}: expected {"classes": [strings]}`);
    return new ClassVocabulary(classes as string[]);
  }
}
