"""Image files in and out of saved runs: read and resize images, open a run, translate.

A saved run is a training folder (``i2ilab train --out``: the exported ``.keras`` networks and
``config.json`` when training finished, else the newest checkpoint) or one generator ``.keras``
file. Networks run in inference mode (BatchNorm moving averages, dropout off), through the
trainers' own ``translate``, so the results equal ``trainer.translate(x)`` of the trained model.
Images are float32 RGB (H, W, 3) in [-1, 1], as everywhere in the library.
"""

import pathlib

import keras
import numpy as np

from i2ilab import color, recipes, runs
from i2ilab.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


# ------------------------------------------------------------------------------------- images
def input_files(spec):
    """An image file, or the images of a folder (sorted by name), as a list of paths."""
    path = pathlib.Path(spec).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UsageError(f"--input {spec}: the folder has no images ({', '.join(IMAGE_SUFFIXES)}).")
        return files
    raise UsageError(f"--input {spec}: no such file or folder.")


def _decode_problems(paths):
    """[problem or None] of each image file after a full decode: JPEG, PNG and BMP with the
    training pipeline's check (:func:`i2ilab.data.files.probe_files`, cached), others with PIL."""
    from PIL import Image

    from i2ilab.data import files as data_files

    problems = [None] * len(paths)
    piped = [i for i, p in enumerate(paths) if p.suffix.lower() in data_files.IMAGE_EXTENSIONS]
    for i, (_, _, problem) in zip(piped, data_files.probe_files([paths[i] for i in piped]), strict=True):
        problems[i] = problem
    for i, path in enumerate(paths):
        if i not in piped:
            try:
                with Image.open(path) as img:
                    img.load()
            except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, ... for bad files
                problems[i] = f"not a readable image ({type(err).__name__}: {err})"
    return problems


def checked_inputs(spec, out, skip_bad=False):
    """``(images, bad)``: the input files of ``spec`` (:func:`input_files`) that decode fully,
    and ``[(path, problem)]`` of those that do not (only with ``skip_bad``; else UsageError
    naming them all). Refuses an ``out`` folder that is the input folder (the outputs,
    ``<stem>.png``, would replace inputs)."""
    from i2ilab.data.files import bad_files_message

    paths = input_files(spec)
    target = pathlib.Path(out).expanduser().resolve()
    if any(p.resolve().parent == target for p in paths):
        raise UsageError(
            f"--out {out} is the --input folder: the translations would replace inputs of the same name; "
            "choose another --out folder."
        )
    bad = [(p, problem) for p, problem in zip(paths, _decode_problems(paths), strict=True) if problem]
    if bad and not skip_bad:
        raise UsageError(bad_files_message(bad, len(paths), spec, fix="or pass --skip-bad to translate the others"))
    skipped = {p for p, _ in bad}
    return [p for p in paths if p not in skipped], bad


def save_output(path, rgb):
    """Write an RGB image in [-1, 1] as a PNG; UsageError naming the file when it cannot be
    written (a full disk, a read-only folder)."""
    from i2ilab import viz

    try:
        return viz.save_image(path, viz.to_uint8(rgb))
    except OSError as err:
        raise UsageError(
            f"cannot write {path} ({err.strerror or err}); free some space or choose another --out folder."
        ) from None


def read_image(path):
    """An image file -> float32 RGB (H, W, 3) in [-1, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    except (UnidentifiedImageError, OSError) as err:
        raise UsageError(f"cannot read image {path}: {err}") from err
    return rgb / 127.5 - 1.0


#: PIL modes of a label or instance map of integer ids (8-bit, palette, 16- or 32-bit grayscale).
ID_MODES = ("L", "P", "I", "I;16", "I;16B", "I;16L")


def read_ids(path, what="label map"):
    """A map of integer ids (a grayscale PNG such as Cityscapes' labelIds / instanceIds) ->
    int32 (H, W); UsageError naming the file for an RGB image or an unreadable one."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode not in ID_MODES:
                raise UsageError(
                    f"{path}: a {img.mode} image, not a {what} of ids; pix2pixhd translates grayscale PNGs "
                    "of class ids (as a dataset's test_label/) with their instance maps (test_inst/)."
                )
            return np.asarray(img).astype(np.int32)
    except (UnidentifiedImageError, OSError) as err:
        raise UsageError(f"cannot read {what} {path}: {err}") from err


def resize_ids(ids, height, width):
    """int (H, W) ids -> (height, width), nearest-neighbour (ids are never blended)."""
    from PIL import Image

    if ids.shape == (height, width):
        return ids
    return np.asarray(Image.fromarray(ids.astype(np.int32), "I").resize((width, height), Image.NEAREST), np.int32)


def resize(img, height, width):
    """float image in [-1, 1] -> (height, width) with bicubic resampling (via uint8, like a file)."""
    from PIL import Image

    from i2ilab.viz import to_uint8

    if img.shape[:2] == (height, width):
        return img
    pil = Image.fromarray(to_uint8(img))
    return np.asarray(pil.resize((width, height), Image.BICUBIC), np.float32) / 127.5 - 1.0


def model_size(net):
    """(height, width) of a network's (first) input; None entries when fully convolutional."""
    shape = net.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    return shape[1], shape[2]


def prepare_input(img, net, full_size, multiple):
    """Resize an RGB image in [-1, 1] for ``net``: to its input size, or, with ``full_size``, to
    the nearest multiple of ``multiple`` (often the image's own size)."""
    if full_size:
        h = max(multiple, int(round(img.shape[0] / multiple)) * multiple)
        w = max(multiple, int(round(img.shape[1] / multiple)) * multiple)
        return resize(img, h, w)
    h, w = model_size(net)
    if h is None:
        return img
    return resize(img, h, w)


def fully_convolutional(net):
    """The same network on (None, None, C) inputs, sharing its weights."""
    channels = net.input_shape[-1]
    clone = keras.models.clone_model(net, input_tensors=keras.Input((None, None, channels)))
    clone.set_weights(net.get_weights())
    return clone


# ---------------------------------------------------------------------------------- saved runs
def load_keras(path):
    """A ``.keras`` file written by i2ilab (custom layers registered) -> keras.Model."""
    import zipfile

    import i2ilab.models  # noqa: F401  (registers the custom layers and MUNITGenerator)

    if not zipfile.is_zipfile(path):
        raise UsageError(
            f"{path}: not a Keras model file (a .keras file is a zip archive written by model.save; "
            "this one is damaged, truncated or something else)."
        )
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as err:
        raise UsageError(f"{path}: not a Keras model file ({type(err).__name__}: {err})") from err


def _newest_checkpoint(folder):
    """``(checkpoint folder, find_latest dict)`` of a run folder without config.json."""
    ckpt_dir = runs.checkpoint_folder(folder)
    info = runs.find_resumable(ckpt_dir)
    if info is None:
        raise UsageError(
            f"--checkpoint {folder}: no config.json (written when `i2ilab train` finishes) and no "
            "checkpoints/; pass a training --out folder or a .keras file."
        )
    return ckpt_dir, info


def run_model(folder):
    """The model name of a run folder (config.json, else the newest checkpoint), or None."""
    config = runs.read_config(folder)
    if config is None:
        config = _newest_checkpoint(folder)[1].get("config") or {}
    return config.get("model")


def load_networks(checkpoint, names):
    """``({name: keras.Model}, config)`` from a training folder: its exported ``.keras`` files,
    or the newest checkpoint when training has not finished."""
    folder = pathlib.Path(checkpoint)
    if not folder.exists():
        raise UsageError(f"--checkpoint {checkpoint}: no such file or folder.")
    config = runs.read_config(folder)
    if config is not None:
        missing = [n for n in names if n not in config.get("networks", {})]
        if missing:
            raise UsageError(
                f"--checkpoint {folder} holds a {config.get('model')} model with networks "
                f"{sorted(config.get('networks', {}))}; it has no {', '.join(missing)}."
            )
        return {n: load_keras(folder / config["networks"][n]) for n in names}, config
    ckpt_dir, info = _newest_checkpoint(folder)
    cfg = {k: v for k, v in (info.get("config") or {}).items() if k in recipes.ARCH_KEYS}
    if "model" not in cfg:
        raise UsageError(f"{ckpt_dir}: latest.json has no model configuration; cannot rebuild it.")
    trainer = recipes.build_trainer(cfg, pretrained=False)  # the checkpoint restores e.g. pix2pixHD's VGG
    try:
        trainer.load_checkpoint(str(info["file"]))
    except Exception as err:
        raise UsageError(f"could not load {info['file']}: {err}") from err
    nets = trainer.networks
    missing = [n for n in names if n not in nets]
    if missing:
        raise UsageError(f"{ckpt_dir} holds a {cfg['model']} model without {', '.join(missing)}.")
    for path, problem in info.get("skipped", []):
        print(f"i2ilab: note: skipped {path} ({problem}); using the older {info['file'].name}.")
    print(f"i2ilab: using {info['file']} (epoch {info['epoch']}; training not finished)")
    return {n: nets[n] for n in names}, cfg


def load_trainer(checkpoint, model=None):
    """``(trainer, config)`` around the networks of a training folder (uncompiled), for its
    ``translate``: the generators, and the discriminators the folder holds (else None).
    ``model``: the model name it must hold (e.g. ``"munit"``), or None for any."""
    folder = pathlib.Path(checkpoint)
    if folder.suffix == ".keras":
        raise UsageError(f"--checkpoint {folder}: a .keras file holds one network; pass the training folder.")
    if not folder.is_dir():
        raise UsageError(f"--checkpoint {folder}: no such folder.")
    found = model or run_model(folder)
    if found not in recipes.NETWORKS:
        raise UsageError(f"--checkpoint {folder}: cannot tell which model it holds.")
    exported = (runs.read_config(folder) or {}).get("networks")
    optional = [n for n in recipes.DISCRIMINATORS[found] if exported is None or n in exported]
    nets, config = load_networks(folder, [*recipes.GENERATORS[found], *optional])
    return recipes.make_trainer(found, {n: nets.get(n) for n in recipes.NETWORKS[found]}, cfg=config), config


class Translator:
    """A saved generator as a function of one image: ``translator(rgb) -> rgb``, (H, W, 3) in [-1, 1].

    Args:
        checkpoint: a training folder or a generator ``.keras`` file.
        direction: ``"AtoB"``, or ``"BtoA"`` for the models with two generators
            (:data:`i2ilab.recipes.TRANSLATORS`; UNIT encodes with gen_b and decodes with gen_a).
        full_size: run fully convolutionally near each image's own size instead of resizing it
            to the training size.
        z: BicycleGAN's latent code (Zhu et al. 2017b, sec. 3.3): ``"random"`` (``n_samples``
            codes from N(0, I) drawn from ``seed``, the same for every input) or ``"encode"``
            (the mean code E(example) of the example output image ``example``, a path). Other
            models take none (None).
        instances: pix2pixHD: the folder of instance maps named as the input label maps (None:
            the ``<name>_inst`` folder beside an ``<name>_label`` folder of ``inputs``, the
            ``--input`` file or folder). Its inputs are label maps of class ids
            (:meth:`read_input`), not RGB images.

    Attributes ``model`` (a :data:`i2ilab.recipes.TRANSLATORS` model; ``image`` for a ``.keras``
    file that is not a colorizer) and ``net`` (the generator). ``read_input(path)`` reads one
    input file as the model takes it; ``outputs(rgb)``
    gives every output of one input as ``{file suffix: rgb}`` (BicycleGAN's ``_z1`` ..
    ``_zN`` for random codes; ``""`` for a single output).
    """

    def __init__(
        self,
        checkpoint,
        direction="AtoB",
        full_size=False,
        z=None,
        example=None,
        n_samples=None,
        seed=0,
        instances=None,
        inputs=None,
    ):
        path = pathlib.Path(checkpoint)
        if not path.exists():
            raise UsageError(f"--checkpoint {path}: no such file or folder.")
        self._trainer, self.codes, self.direction = None, None, direction
        self.labels_cfg = self.instance_dir = None
        if path.suffix == ".keras":
            self.net = load_keras(path)
            self.model = "colorize" if (self.net.input_shape[-1], self.net.output_shape[-1]) == (1, 2) else "image"
            self.multiple = model_size(self.net)[0] or 1
        else:
            self.model = run_model(path)
            if self.model == "munit":
                raise UsageError(
                    f"--checkpoint {path} is a MUNIT model: it translates with a style; use "
                    "`i2ilab sample` (random styles or --style-from IMAGE)."
                )
            if self.model not in recipes.TRANSLATORS:
                raise UsageError(f"--checkpoint {path}: cannot tell which model it holds.")
            name = recipes.TRANSLATORS[self.model].get(direction)
            if name is None:
                raise UsageError(f"--direction {direction}: {self.model} translates AtoB only.")
            if self.model in recipes.TRAINER_TRANSLATES:
                if full_size:
                    raise UsageError(f"--full-size: {self.model} translates at its training size only; drop the flag.")
                self._trainer, cfg = load_trainer(path, self.model)
                self.net = self._trainer.networks[name]
                self.multiple = cfg["image_size"]
            elif self.model in recipes.LABEL_MODELS:
                nets, self.labels_cfg = load_networks(path, [name])
                self.net = nets[name]
                self.multiple = 2 ** self.labels_cfg["n_downsampling"]
            elif self.model in recipes.LATENT_MODELS:
                self._trainer, _ = load_trainer(path, self.model)
                self.net = self._trainer.generator
                self.codes = self._latent_codes(z, example, n_samples, seed, full_size)
                self.multiple = model_size(self.net)[0]
            else:
                nets, cfg = load_networks(path, [name])
                self.net = nets[name]
                self.multiple = cfg["image_size"] if self.model in recipes.FULL_DEPTH_UNETS else 4
        if self.codes is None and (z, example, n_samples) != (None, None, None):
            raise UsageError(
                f"--z/--from/--n-samples: {self.model} takes no latent code; they are for "
                f"{', '.join(recipes.LATENT_MODELS)} checkpoints."
            )
        if self.labels_cfg is None and instances is not None:
            raise UsageError(f"--instances: {self.model} takes no instance maps; it is for pix2pixhd checkpoints.")
        self.full_size = full_size
        self._run_net = fully_convolutional(self.net) if full_size else self.net
        if self.model == "colorize":
            self._trainer = recipes.make_trainer("colorize", {"generator": self._run_net})
        if self.labels_cfg is not None:
            nets = {"generator": self._run_net, "discriminator": None}
            self._trainer = recipes.make_trainer(self.model, nets, cfg=self.labels_cfg)
            self.instance_dir = self._instance_folder(instances, inputs)

    def _instance_folder(self, instances, inputs):
        """The folder of instance maps of a pix2pixHD model that reads them (else None)."""
        if not self.labels_cfg["instances"]:
            if instances is not None:
                raise UsageError("--instances: this pix2pixhd model was trained with --no-instance; drop the flag.")
            return None
        if instances is not None:
            folder = pathlib.Path(instances).expanduser()
            if not folder.is_dir():
                raise UsageError(f"--instances {instances}: no such folder.")
            return folder
        if inputs is not None:
            where = pathlib.Path(inputs).expanduser()
            where = where if where.is_dir() else where.parent
            if where.name.endswith("_label") and (where.parent / f"{where.name[:-6]}_inst").is_dir():
                return where.parent / f"{where.name[:-6]}_inst"
        raise UsageError(
            "this pix2pixhd model reads instance maps besides the label maps: pass --instances FOLDER "
            "(instance maps named as the --input label maps, e.g. test_inst/ beside test_label/)."
        )

    def read_input(self, path):
        """One input of ``path``: an RGB image in [-1, 1] (:func:`read_image`); for pix2pixHD
        ``(labels, instances)``, int32 (H, W) class ids and instance ids (None without them)."""
        if self.labels_cfg is None:
            return read_image(path)
        from i2ilab.data.files import IMAGE_EXTENSIONS, name_key

        path = pathlib.Path(path)
        labels = read_ids(path)
        n_classes = self.labels_cfg["n_classes"]
        if labels.max() >= n_classes:
            raise UsageError(
                f"{path}: label id {labels.max()} >= {n_classes}, the label ids this model was trained with."
            )
        if self.instance_dir is None:
            return labels, None
        key = name_key(path)
        matches = [
            p
            for p in sorted(self.instance_dir.iterdir())
            if name_key(p) == key and p.suffix.lower() in IMAGE_EXTENSIONS
        ]
        if not matches:
            raise UsageError(f"{path}: no instance map named {key}* in {self.instance_dir}; pass --instances FOLDER.")
        instances = read_ids(matches[0], "instance map")
        if instances.shape != labels.shape:
            raise UsageError(
                f"{matches[0]}: instance map {instances.shape} differs in size from the label map {labels.shape}."
            )
        return labels, instances

    def _translate_labels(self, labels, instances):
        """G's photo (H, W, 3) in [-1, 1] for int (H, W) class ids (and instance ids)."""
        if self.full_size:
            h, w = (max(self.multiple, int(round(d / self.multiple)) * self.multiple) for d in labels.shape)
        else:
            h, w = model_size(self.net)
        one_hot = np.eye(self.labels_cfg["n_classes"], dtype=np.float32)[resize_ids(labels, h, w)][None]
        if instances is None:
            return self._trainer.translate(one_hot)[0]
        return self._trainer.translate((one_hot, resize_ids(instances, h, w)[None, ..., None]))[0]

    def _latent_codes(self, z, example, n_samples, seed, full_size):
        """(K, nz) codes every input is translated with: K random ones, or E(example)'s mean."""
        if full_size:
            raise UsageError(f"--full-size: {self.model}'s generator runs at its training size only; drop the flag.")
        z = z or "random"
        if z == "encode":
            if example is None or n_samples is not None:
                raise UsageError("--z encode: pass --from IMAGE (an example output) and no --n-samples.")
            h, w = model_size(self.net)
            return self._trainer.encode(resize(read_image(example), h, w)[None])
        if example is not None:
            raise UsageError("--from IMAGE: the example's code is used with --z encode only.")
        n = 4 if n_samples is None else n_samples
        if n < 1:
            raise UsageError(f"--n-samples {n} must be >= 1.")
        return self._trainer.sample_z(n, seed)

    def _with_codes(self, rgb, codes):
        """G(rgb, z) for each code of ``codes`` (K, nz): (K, H, W, 3) in [-1, 1]."""
        x = prepare_input(rgb, self.net, False, self.multiple)[None]
        return self._trainer.translate(np.repeat(x, len(codes), axis=0), codes)

    def outputs(self, rgb):
        """``{file suffix: rgb}``: every output of one RGB input in [-1, 1] (one without a code)."""
        if self.codes is None:
            return {"": self(rgb)}
        images = self._with_codes(rgb, self.codes)
        if len(images) == 1:
            return {"": images[0]}
        return {f"_z{k + 1}": image for k, image in enumerate(images)}

    def __call__(self, rgb):
        if self.labels_cfg is not None:
            return self._translate_labels(*rgb)
        if self.codes is not None:
            return self._with_codes(rgb, self.codes[:1])[0]  # the first code's output
        if self.model in recipes.TRAINER_TRANSLATES:
            rgb = resize(rgb, self.multiple, self.multiple)
            return self._trainer.translate(rgb[None], self.direction)[0]
        rgb = prepare_input(rgb, self.net, self.full_size, self.multiple)
        if self._trainer is not None:
            l_scaled, _ = color.rgb_to_l_ab_np(rgb[None])
            return self._trainer.translate(l_scaled)[0]
        return np.asarray(keras.ops.convert_to_numpy(self._run_net(rgb[None], training=False)))[0]


def write_munit_samples(checkpoint, spec, out, n_styles=4, style_from=None, direction="AtoB", seed=0):
    """MUNIT's multimodal outputs of each input image of ``spec`` into the folder ``out``: with
    ``n_styles`` random styles (from ``seed``) ``<stem>_styleK.png``, or with the style of the
    example image ``style_from`` ``<stem>_guided.png``; and ``<stem>_grid.png`` of each input.
    Returns the number of inputs."""
    from i2ilab import viz

    munit, cfg = load_trainer(checkpoint, "munit")
    files = input_files(spec)
    if n_styles < 1:
        raise UsageError(f"--n-styles {n_styles} must be >= 1.")
    size = cfg["image_size"]
    style_img = codes = None
    if style_from:
        style_img = resize(read_image(style_from), size, size)[None]
    else:
        codes = munit.sample_styles(n_styles, seed)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for path in files:
        x = resize(read_image(path), size, size)[None]
        columns = {"input": x}
        if style_img is not None:
            images = munit.translate(x, style=style_img, direction=direction)
            columns["style"] = style_img
            columns["output"] = images
            viz.save_image(out / f"{path.stem}_guided.png", viz.to_uint8(images[0]))
        else:
            images = munit.translate(np.repeat(x, len(codes), axis=0), style=codes, direction=direction)
            for k in range(len(codes)):
                columns[f"style_{k + 1}"] = images[k : k + 1]
                viz.save_image(out / f"{path.stem}_style{k + 1}.png", viz.to_uint8(images[k]))
        viz.save_grid(columns, out / f"{path.stem}_grid.png")
    return len(files)
