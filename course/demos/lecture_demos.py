# %% [markdown]
# # Image-to-image translation, live
#
# Three interactive demos for the lectures of the i2ilab course (see `course/SYLLABUS.md`):
#
# 1. **pix2pix**: paint a label map and watch the conditional GAN turn it into a photo
#    (lectures 1-3: conditional GANs, structured losses, PatchGAN).
# 2. **MUNIT**: one input, many styles: move the style sliders, draw random styles, borrow the
#    style of an example (lectures 5-6: shared latent spaces, multimodality).
# 3. **CycleGAN**: before and after, with the cycle reconstruction and a wipe
#    (lecture 4: cycle consistency).
#
# **Before the lecture**, from the repository root: `python course/demos/demo_widgets.py`
# trains the small fallback models on the built-in synthetic data (about 5 CPU-minutes, once;
# cached in `~/.cache/i2ilab/demo_runs`, or `$I2ILAB_CACHE`, so the demo never needs the
# network) and writes `course/demos/lecture.ipynb`, the copy of this notebook to open in the
# lecture: Jupyter saves outputs into the notebook it runs, and this one is committed without
# them. For better models, point the copy's parameter cell at models trained with
# `i2ilab train` (`course/README.md`, "Pretraining the demo models") or converted with
# `i2ilab convert`; a model left at `None` is the fallback (trained here if missing).
#
# Run all cells, then use the controls. Every control calls a method of the demo object
# (`course/demos/demo_widgets.py`), so you can also drive a demo from a cell, e.g.
# `painter.paint(3, 4)`.

# %%
import os

# I2ILAB_SMOKE=1: the headless test run; seconds-long stand-in models, the same code path.
SMOKE = os.environ.get("I2ILAB_SMOKE") == "1"

# Models: an `i2ilab train ... --out` folder, a .keras file from `i2ilab convert`, or None (train
# a small model on the synthetic data now). Relative paths start at the repository root.
PIX2PIX = None  # e.g. "runs/demo_pix2pix", or "models/facades_label2photo.keras"
CYCLEGAN = None  # e.g. "runs/demo_cyclegan", or "models/horse2zebra.keras" (one direction)
MUNIT = None  # e.g. "runs/demo_munit", or ("models/edges2shoes_a.keras", "models/edges2shoes_b.keras")

# Example inputs for models trained on other data: folders of images (None: synthetic scenes).
# *_HALF: for side-by-side A|B pix2pix images, the half to use ("left" or "right").
PIX2PIX_EXAMPLES, PIX2PIX_HALF = None, None  # facades labels: "data/pix2pix/facades/test", "right"
CYCLEGAN_EXAMPLES_A, CYCLEGAN_EXAMPLES_B = None, None  # e.g. "data/cyclegan/horse2zebra/testA"
MUNIT_EXAMPLES_A, MUNIT_EXAMPLES_B = None, None  # edges2shoes: "data/pix2pix/edges2shoes/val" twice
MUNIT_HALF_A, MUNIT_HALF_B = None, None  # edges2shoes: "left" (edges), "right" (shoes)

# %%
from i2ilab import notebook

notebook.start()  # first: the backend's start-up log lines are kept, not shown in red boxes

import demo_widgets as dw  # noqa: E402  (after start(): it imports the backend)

# %% [markdown]
# ## 1. pix2pix: from a label map to a photo
#
# The generator is a U-Net trained with a conditional GAN loss plus L1 (Isola et al. 2017). The
# label map fixes the layout; the texture, shading and highlights are the generator's guess.
#
# - Choose a class and click cells to paint; *place shape* draws a rectangle or ellipse; *start
#   from* loads a test layout; *upload image* reads a label map (each pixel takes the nearest
#   class colour).
# - Ask the room: why are the wall stripes sharp? (The discriminator punishes blur; L1 alone would
#   give the flat average texture: lab 2.) What does a tiny window do to the wall around it?
#   (Each output pixel sees a patch: receptive fields, PatchGAN.)
# - Paint something the training data never had (a wall in the sky, a pole across the road):
#   a conditional GAN has no idea what is plausible outside its data.

# %%
pix2pix_generator, pix2pix_info = dw.load_or_train("pix2pix", dw.resolve(PIX2PIX), smoke=SMOKE)
if pix2pix_info["synthetic"]:
    painter = dw.LabelMapDemo(pix2pix_generator)
else:  # a model trained on other labels (e.g. official facades): pick or upload inputs
    examples = (
        dw.read_examples(dw.resolve(PIX2PIX_EXAMPLES), pix2pix_info["image_size"], half=PIX2PIX_HALF)
        if PIX2PIX_EXAMPLES
        else None
    )
    painter = dw.LabelMapDemo(pix2pix_generator, examples=examples, palette=None)
dw.show(painter, pix2pix_info)

# %% [markdown]
# ## 2. MUNIT: one content, many styles
#
# MUNIT splits an image into a *content* code (the layout, shared by both domains) and a *style*
# code (8 numbers, drawn from N(0, I) during training) (Huang et al. 2018). The output below is
# the input's content decoded with the style code on the sliders.
#
# - *random style* draws a new code; the sliders move one dimension at a time; *style of* takes
#   the code of a target-domain example (example-guided translation).
# - The gallery decodes the same content with several random codes: a unimodal model
#   (pix2pix, CycleGAN) would give one output here, whatever the noise (multimodality).
# - Which style dimension changes the sky? Is any dimension "the colour of the ground"? The
#   code is not disentangled by construction: it only has to be recoverable (style
#   reconstruction loss).

# %%
munit_a, munit_b, munit_info = dw.load_or_train("munit", dw.resolve(MUNIT), smoke=SMOKE)
images_a, images_b = dw.munit_examples(
    munit_info["image_size"],
    folder_a=dw.resolve(MUNIT_EXAMPLES_A),
    folder_b=dw.resolve(MUNIT_EXAMPLES_B),
    half_a=MUNIT_HALF_A,
    half_b=MUNIT_HALF_B,
)
styles = dw.StyleDemo(munit_a, munit_b, images_a, images_b)
dw.show(styles, munit_info)

# %% [markdown]
# ## 3. CycleGAN: before and after
#
# Two generators, G: A -> B and F: B -> A, trained without pairs; the cycle loss asks
# F(G(x)) ~ x (Zhu et al. 2017). The panel shows the input, its translation, the way back and,
# on the synthetic day/night scenes, the true counterpart (which training never saw). Drag the
# wipe to compare before and after.
#
# - The reconstruction is often better than the translation: a generator can hide information
#   about the input in the output to pass the cycle test (a CycleGAN "steganography" effect).
# - Cycle consistency is a prior, not a guarantee: two object colours can swap and the cycle
#   still closes (lab 3's ambiguous day2night set).

# %%
g_ab, g_ba, cyclegan_info = dw.load_or_train("cyclegan", dw.resolve(CYCLEGAN), smoke=SMOKE)
day, night, true_night, true_day = dw.cyclegan_examples(
    cyclegan_info["image_size"], folder_a=dw.resolve(CYCLEGAN_EXAMPLES_A), folder_b=dw.resolve(CYCLEGAN_EXAMPLES_B)
)
before_after = dw.BeforeAfterDemo(g_ab, g_ba, day, night, true_b=true_night, true_a=true_day)
dw.show(before_after, cyclegan_info)
