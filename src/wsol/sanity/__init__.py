"""Does the map depend on the model? Adebayo et al. (2018) sanity checks for saliency maps.

The model parameter randomisation test compares a trained model's maps with those of copies
whose weights are redrawn block by block (cascading, from the logits down) or one block at a
time (independent); the data randomisation test compares them with the maps of a model trained
on permuted labels. A method whose maps barely change explains the input, not the model.
Guided Backpropagation and Guided Grad-CAM live here, and only here, as the comparison the
argument rests on; they are never offered as a ``cam.method``.
"""

from wsol.sanity.check import SanityResult, run_sanity
from wsol.sanity.guided import GUIDED_METHODS
from wsol.sanity.randomize import model_blocks, randomized_copy
from wsol.sanity.similarity import METRICS, similarities

__all__ = ["GUIDED_METHODS", "METRICS", "SanityResult", "model_blocks", "randomized_copy",
           "run_sanity", "similarities"]
