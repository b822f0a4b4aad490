"""Transfer-learning strategies: the 2x2 table of dataset similarity x dataset size.

How much of a pretrained net to retrain depends on how close the new data are to the data it
was trained on (close: its top features apply; far: only its early, generic features do) and
on how much new data there is (little: training many weights overfits; much: they can adapt).
`recommend(similar, much_data)` gives the standard course answer, with the tlslim strategy.
"""
from tlslim.labs import common

# (similar, much_data) -> (tlslim strategy, the advice)
TABLE = {
    (True, False): ("head", "train only a new classifier on the pretrained top-layer features "
                            "(finetune.py --strategy head)"),
    (True, True): ("top", "fine-tune the top few layers together with a new classifier "
                          "(finetune.py --strategy top --unfreeze 1 or 2)"),
    (False, False): ("head on earlier features", "the hard case: the top features are specific to the "
                                                 "source task and there is too little data to retrain "
                                                 "them; train a linear classifier on features from an "
                                                 "earlier layer (or try several stages)"),
    (False, True): ("all", "fine-tune many or all layers from the pretrained weights "
                           "(finetune.py --strategy all, or discriminative)"),
}


def strategy(similar, much_data):
    """The strategy name for the cell: 'head', 'top', 'head on earlier features' or 'all'."""
    return TABLE[(bool(similar), bool(much_data))][0]


def recommend(similar: bool, much_data: bool) -> str:
    """The course's advice for a new dataset that is `similar` (or not) to the pretraining data
    and has much data (or little)."""
    return TABLE[(bool(similar), bool(much_data))][1]


def run(output_dir=None):
    return {"table": [{"similar": s, "much_data": m, "strategy": strategy(s, m), "advice": recommend(s, m)}
                      for s in (True, False) for m in (False, True)],
            "figures": []}


def format(result):
    cell = {(r["similar"], r["much_data"]): r["strategy"] for r in result["table"]}
    grid = common.table(["", "little data", "much data"],
                        [["similar data", cell[(True, False)], cell[(True, True)]],
                         ["different data", cell[(False, False)], cell[(False, True)]]])
    advice = [f"- {'similar' if r['similar'] else 'different'} data, {'much' if r['much_data'] else 'little'} "
              f"data: {r['advice']}" for r in result["table"]]
    return grid + "\n\n" + "\n".join(advice)
