// Lab mode's options (flags in ./index.ts, documented in ./README.md).
import { LAB_TEST_NAMES, type LabTestName } from "./lab.js";
import { labSocketPath } from "./socket.js";

export interface LabOptions {
  /** --lab-test: which test-mr.sh test to run. */
  test?: LabTestName;
  /** --lab-socket: the lab's coordinatorSock() (default /var/tmp/5840-mr-<uid>). */
  socket?: string;
  /** --lab-race: build with -race, as test-mr.sh does. */
  race?: boolean;
}

export interface ResolvedLabOptions {
  test_name: LabTestName;
  socket: string;
  race: boolean;
}

export function resolveLabOptions(given: LabOptions = {}): ResolvedLabOptions {
  return {
    test_name: given.test ?? (LAB_TEST_NAMES[0] as LabTestName),
    socket: given.socket ?? labSocketPath(),
    race: given.race === true,
  };
}
