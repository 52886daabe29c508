r"""Serves the TF.js demo page with one TF.js model on 127.0.0.1 until interrupted.

  python -m export.serve_tfjs --model_dir=/tmp/mobilenet_v2_075_96.tfjs [--port=8000]

Open the printed address, pick or drop a picture: the page runs the model in the browser
with @tensorflow/tfjs (wasm backend; `?backend=cpu` or `webgl` for the others) and shows the
top-5 labels with their probabilities and the time the model took (docs/tfjs.md). Everything
the page loads comes from this server (export/formats/tfjs/server.py). Exit codes, as every
binary's: 130 after Ctrl-C (or SIGTERM), which is how it stops; 1 the model or the page's files
are missing, or the port cannot be listened on; 2 bad flags.
"""

from absl import flags

from export import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
  cli.define_required_string("model_dir", "A TF.js graph model directory (model.json + shards).")
  flags.DEFINE_integer(
    "port", 8000, "The port on 127.0.0.1; 0 picks a free one.", lower_bound=0, upper_bound=65535
  )


def main(argv) -> None:
  cli.parse_or_exit(cli.reject_positional_arguments, argv)
  from export.formats.tfjs import server as tfjs_server  # pylint: disable=g-import-not-at-top

  server = cli.work_or_exit(tfjs_server.make_server, FLAGS.model_dir, FLAGS.port)
  print(f"Serving {FLAGS.model_dir} at {tfjs_server.url_of(server)} (Ctrl-C stops)", flush=True)
  try:
    server.serve_forever()  # until interrupted: cli.run reports that, exit 130
  finally:
    server.server_close()


def run() -> None:
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
