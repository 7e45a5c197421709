// What an app is: the plug-in interface every MapReduce app implements (apps/index.ts lists them).
export interface KeyValue {
  key: string;
  value: string;
}

export interface App {
  map(filename: string, contents: string): KeyValue[] | Promise<KeyValue[]>;
  reduce(key: string, values: string[]): string | Promise<string>;
}
