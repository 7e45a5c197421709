// A nemesis script for pb-kv's no-forward bug, shipped as `--nemesis-script isolate-primary`
// (the manifest's `scripts`; test/e2e/pb-kv-schedules.test.ts checks the correct variant
// survives it, test/e2e/bug-runs.test.ts that the bug's run catches it).
import type { ScriptControl, Sent } from "../../protocols/nemesis-script.js";

interface View {
  viewnum: number;
  primary: string;
  backup: string;
}

const viewOf = ({ body }: Sent): View | undefined =>
  body.type === "vs_view" ? (body.view as View) : undefined;

/** Both directions of every link between `node` and the others. */
const around = (node: string, nodes: readonly string[]): Array<[string, string]> =>
  nodes
    .filter((n) => n !== node)
    .flatMap(
      (n): Array<[string, string]> => [
        [node, n],
        [n, node],
      ],
    );

/**
 * The primary cut off from every other node until the view service has promoted its backup,
 * and for a while after, three times over: the window in which a primary that acknowledges
 * before its backup has the op loses acknowledged writes (the new primary never got them) and
 * keeps answering its own clients. Random isolate-one partitions pick the primary one time in
 * three and a pause may end before the view changes; this does both every round. The correct
 * primary cannot complete anything while cut off from its backup, so its clients see timeouts.
 */
export async function isolatePrimary(control: ScriptControl): Promise<void> {
  const ROUNDS = 3;
  /** Long enough for the old primary to take writes its clients send it, and reads elsewhere. */
  const CUT_OFF_MS = 2_000;
  for (let round = 0; round < ROUNDS; round++) {
    const forward = await control.message(
      ({ body }) => body.type === "pb_forward",
      "a forward from the primary to its backup",
    );
    const primary = forward.src;
    control.cut(around(primary, control.nodes));
    await control.message((sent) => {
      const view = viewOf(sent);
      return view !== undefined && view.primary !== "" && view.primary !== primary;
    }, `a view with a primary other than ${primary}`);
    await control.sleep(CUT_OFF_MS);
    control.heal();
    await control.sleep(1_500);
  }
}
