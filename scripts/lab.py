"""Run a course lab: print its table, optionally save its figures and numbers.

    python scripts/lab.py --list
    python scripts/lab.py activations
    python scripts/lab.py weight_init --output_dir /tmp/labs --json /tmp/labs/weight_init.json
"""
import os, sys; sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # noqa: E401,E702

import json  # noqa: E402

from absl import flags  # noqa: E402

from tlslim import cli, labs, paths  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402

flags.DEFINE_bool("list", False, "List the labs and exit.")
flags.DEFINE_string("output_dir", None, "Directory for the lab's PNG figures (none saved if unset).")
flags.DEFINE_string("json", None, "Write the lab's numbers to this JSON file.")
flags.DEFINE_list("nets", None, "Registry nets to run the lab on (params, receptive_field), e.g. mobilenet_v1,vgg_16.")
FLAGS = flags.FLAGS


def main(argv):
    if FLAGS.list:
        for name in labs.names():
            print(f"{name:16s} {labs.title(name)}")
        return
    if len(argv) != 2:
        raise TlslimError(f"give one lab name, e.g. 'python scripts/lab.py activations'; "
                          f"known labs: {', '.join(labs.names())}")
    lab = labs.get(argv[1])
    # Checked before the lab runs: some take minutes.
    output_dir = FLAGS.output_dir and paths.check_output_dir(FLAGS.output_dir, "--output_dir", "the lab's figures")
    json_file = FLAGS.json and paths.check_output_file(FLAGS.json, "--json", "the lab's numbers")
    if FLAGS.nets:
        from tlslim import nets
        for name in FLAGS.nets:
            nets.get_info(name)  # an unknown net lists the known ones before any work
    result = labs.run(argv[1], output_dir=output_dir, nets=FLAGS.nets)
    print(lab.format(result))
    for path in result.get("figures", []):
        print(f"saved {path}")
    if json_file:
        with paths.replacing(json_file) as tmp, open(tmp, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {json_file}")


if __name__ == "__main__":
    cli.run(main)
