#!/usr/bin/env node
// An echo node whose replies, logs and stray stdout lines carry HTML/JS payloads, so the report
// tests can check that nothing a target says is ever interpreted as markup (issue 5).
import { echoReply, serve } from "../fixtures/nodes/lib.mjs";

const PAYLOAD = `<script>alert(1)</script>"'&<img src=x onerror=alert(2)></script><!--`;
let served = 0;
serve({
  echo: (msg, send) => {
    served++;
    process.stderr.write(`evil-echo: request ${served} ${PAYLOAD}\n`);
    if (served % 4 === 2) {
      send(msg.src, { type: "echo_ok", echo: PAYLOAD, in_reply_to: msg.body.msg_id });
    } else if (served % 4 === 3) {
      send(msg.src, { type: "error", code: 13, text: PAYLOAD, in_reply_to: msg.body.msg_id });
    } else if (served % 4 === 0) {
      process.stdout.write(`${PAYLOAD} not json\n`);
      echoReply(msg, send);
    } else {
      echoReply(msg, send);
    }
  },
});
