"""The dataset registry: one :class:`Dataset` per folder under the data directory.

Each entry names its canonical public source files (raw GitHub URLs pinned to the commit that
``../shared/data/README.md`` records, then an unpinned mirror where one exists), the layout the
loaders read (:class:`Output`), and what guards each output file:

- ``sha256-download``: the file is the upstream file unchanged (or renamed), and its SHA-256,
  computed from a known byte-identical copy, is checked on the downloaded bytes;
- ``sha256-converted``: the conversion is deterministic (e.g. gunzip), so the SHA-256 of the
  converted file is pinned and checked after conversion;
- ``structure``: neither is possible (pickles rewritten as ``.npz``, re-grouped rows, or a file the
  mirror lacks), so the converted result is checked against the documented counts and shapes.

Every dataset also has a structural check (:mod:`training.datasets.checks`) that runs on top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from training.datasets import checks, convert
from training.datasets.checksums import SHA256

Guard = Literal["sha256-download", "sha256-converted", "structure"]
GUARD_TEXT = {
    "sha256-download": "SHA-256 of the download",
    "sha256-converted": "SHA-256 of the converted file",
    "structure": "structural check (counts, shapes)",
}


def github(repo: str, commit: str, path: str) -> str:
    """A raw file URL pinned to ``commit`` (full SHAs via raw.githubusercontent.com; abbreviated
    ones via github.com/<repo>/raw/, which resolves them and redirects)."""
    if len(commit) == 40:
        return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
    return f"https://github.com/{repo}/raw/{commit}/{path}"


@dataclass(frozen=True)
class Source:
    urls: tuple[str, ...]  # pinned commit first, then mirrors
    name: str  # path in the dataset's download folder
    target: str | None = None  # copied unchanged (or renamed) to this path in the dataset folder
    sha256: str | None = None  # of the downloaded bytes, when a byte-identical copy is known
    optional: bool = False  # a failed download is reported, not fatal
    unpack: bool = False  # a tar/zip archive extracted (safely) into the dataset folder


@dataclass(frozen=True)
class Output:
    path: str  # relative to the dataset folder
    guard: Guard
    sha256: str | None = None
    optional: bool = False  # may be absent: a documented gap, reported but never a failure
    note: str = ""


Converter = Callable[[Path, Path], None]  # (downloads folder, staging folder)


@dataclass(frozen=True)
class Dataset:
    name: str  # folder under the data directory; what ModelSpec.datasets names
    title: str
    kind: Literal["download", "generated"]
    licence: str
    citation: str
    homepage: str
    non_commercial: bool = False
    licence_url: str = ""
    licence_terms: str = ""  # shown before a non-commercial dataset is fetched
    sources: tuple[Source, ...] = ()
    outputs: tuple[Output, ...] = ()
    converter: Converter | None = None
    structure: checks.Check | None = None
    gaps: tuple[str, ...] = ()  # documented gaps that no file stands for
    notes: str = ""
    used_by: tuple[str, ...] = ()  # survey systems that read it (descriptive)

    @property
    def required(self) -> tuple[Output, ...]:
        return tuple(o for o in self.outputs if not o.optional)

    @property
    def guard(self) -> str:
        """Which guards protect the dataset's files, e.g. ``sha256-download + structure``."""
        if self.kind == "generated":
            return "generated (seeded)"
        kinds = [g for g in GUARD_TEXT if any(o.guard == g for o in self.outputs)]
        if self.structure is not None and "structure" not in kinds:
            kinds.append("structure")  # every structural check runs on top of the hashes
        return " + ".join(kinds)

    def origins(self) -> list[str]:
        """``owner/repo@commit`` of each pinned source, in order."""
        seen: list[str] = []
        for source in self.sources:
            parts = urlsplit(source.urls[0]).path.strip("/").split("/")
            commit = parts[3] if len(parts) > 3 and parts[2] == "raw" else parts[2]
            label = f"{parts[0]}/{parts[1]}@{commit[:8]}"
            if label not in seen:
                seen.append(label)
        return seen


def _copies(
    dataset: str,
    repo: str,
    commit: str,
    files: dict[str, str],  # upstream path -> target in the dataset folder
    *,
    mirror_commit: str | None = "master",
    optional: frozenset[str] = frozenset(),
) -> tuple[list[Source], list[Output]]:
    """Files copied unchanged: the download is checked against the pinned SHA-256 when known."""
    sources, outputs = [], []
    for upstream, target in files.items():
        sha = SHA256.get(f"{dataset}/{target}")
        urls = [github(repo, commit, upstream)]
        if mirror_commit:
            urls.append(f"https://raw.githubusercontent.com/{repo}/{mirror_commit}/{upstream}")
        is_optional = target in optional or sha is None  # no pinned copy = a gap in the mirror
        sources.append(Source(tuple(urls), target, target, sha, optional=is_optional))
        guard: Guard = "sha256-download" if sha else "structure"
        note = "not in the offline mirror (over 4 MiB); checked by counts" if not sha else ""
        outputs.append(Output(target, guard, sha, optional=is_optional, note=note))
    return sources, outputs


# --- planetoid --------------------------------------------------------------------------------

PLANETOID_COMMIT = "af6abf468a772cc055bec88c52e4d6f51b7c37e3"
GCN_COMMIT = "39a4089fe72ad9f055ed6fdb9746abdcfebc4d81"  # tkipf/gcn
PYGAT_COMMIT = "3664f2dc90cbf971564c0bf186dc794f12446d0c"  # Diego999/pyGAT
_planetoid_sources = [
    Source(
        (
            github("kimiyoung/planetoid", PLANETOID_COMMIT, f"data/ind.{g}.{p}"),
            github("tkipf/gcn", GCN_COMMIT, f"gcn/data/ind.{g}.{p}"),
        ),
        f"ind.{g}.{p}",
    )
    for g in ("cora", "citeseer")
    for p in (*convert.PLANETOID_PARTS, "test.index")
]
_linqs_sources, _linqs_outputs = _copies(
    "planetoid",
    "Diego999/pyGAT",
    PYGAT_COMMIT,
    {"data/cora/cora.cites": "linqs_cora/cora.cites", "data/cora/README": "linqs_cora/README.txt"},
    optional=frozenset({"linqs_cora/cora.cites", "linqs_cora/README.txt"}),
)

PLANETOID = Dataset(
    name="planetoid",
    title="Cora, Citeseer (Planetoid split, as used by GAT)",
    kind="download",
    licence="MIT (kimiyoung/planetoid); no separate data licence stated",
    licence_url="https://github.com/kimiyoung/planetoid/blob/master/LICENSE",
    citation=(
        "Z. Yang, W. Cohen, R. Salakhutdinov, Revisiting Semi-Supervised Learning with Graph "
        "Embeddings, ICML 2016; P. Sen et al., Collective Classification in Network Data, "
        "AI Magazine 2008"
    ),
    homepage="https://github.com/kimiyoung/planetoid",
    sources=(*_planetoid_sources, *_linqs_sources),
    outputs=(
        Output("cora.npz", "structure"),
        Output("citeseer.npz", "structure"),
        Output(
            "pubmed_partial.npz",
            "structure",
            optional=True,
            note="Pubmed: not fetched (no loader reads it); the mirror's copy lacks ind.pubmed.allx "
            "(features for 1,060 of 19,717 nodes)",
        ),
        *_linqs_outputs,
    ),
    converter=lambda downloads, out: convert.convert_planetoid(downloads, out),
    structure=checks.planetoid,
    notes="ind.* pickles read with a restricted unpickler and rewritten as .npz (no pickles)",
    used_by=("GAT",),
)

# --- bAbI ---------------------------------------------------------------------------------------

BABI_TASKS = (
    "qa1_single-supporting-fact",
    "qa2_two-supporting-facts",
    "qa3_three-supporting-facts",
    "qa4_two-arg-relations",
    "qa5_three-arg-relations",
    "qa6_yes-no-questions",
    "qa7_counting",
    "qa8_lists-sets",
    "qa9_simple-negation",
    "qa10_indefinite-knowledge",
    "qa11_basic-coreference",
    "qa12_conjunction",
    "qa13_compound-coreference",
    "qa14_time-reasoning",
    "qa15_basic-deduction",
    "qa16_basic-induction",
    "qa17_positional-reasoning",
    "qa18_size-reasoning",
    "qa19_path-finding",
    "qa20_agents-motivations",
)
DMN_PLUS = "ethancaballero/Improved-Dynamic-Memory-Networks-DMN-plus"
DMN_PLUS_COMMIT = "406d0f033686cc06151493cba111706b6d03d43f"
_babi_sources: list[Source] = []
_babi_outputs: list[Output] = []
for _sub in ("en", "en-10k"):
    _files = {
        f"data/tasks_1-20_v1-2/{_sub}/{t}_{s}.txt": f"{_sub}/{t}_{s}.txt"
        for t in BABI_TASKS
        for s in ("train", "test")
    }
    _s, _o = _copies("babi", DMN_PLUS, DMN_PLUS_COMMIT, _files)
    if _sub == "en":  # harvardnlp/MemN2N holds the same blobs: a second pinned source
        # f32f9531 stays abbreviated: no full SHA for it could be confirmed offline (see
        # docs/datasets-sources.md); github() sends it through github.com/<repo>/raw/.
        _s = [
            Source(
                (*s.urls, github("harvardnlp/MemN2N", "f32f9531", f"babi_data/{s.name}")),
                s.name,
                s.target,
                s.sha256,
            )  # fmt: skip
            for s in _s
        ]
    _babi_sources += _s
    _babi_outputs += _o

BABI = Dataset(
    name="babi",
    title="bAbI QA tasks v1.2, English, 1k (en/) and 10k (en-10k/)",
    kind="download",
    licence="CC BY 3.0 (Facebook's original release)",
    licence_url="https://creativecommons.org/licenses/by/3.0/",
    citation=(
        "J. Weston, A. Bordes, S. Chopra, A. Rush, B. van Merrienboer, A. Joulin, T. Mikolov, "
        "Towards AI-Complete Question Answering: A Set of Prerequisite Toy Tasks, "
        "arXiv:1502.05698 (2015)"
    ),
    homepage="https://research.facebook.com/downloads/babi/",
    sources=tuple(_babi_sources),
    outputs=tuple(_babi_outputs),
    structure=checks.babi,
    used_by=("MemN2N",),
)

# --- Multi30k -----------------------------------------------------------------------------------

MULTI30K_COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
_multi30k_sources, _multi30k_outputs = [], []
for _stem in checks.MULTI30K_LINES:
    for _lang in ("en", "de", "fr"):
        _path = f"data/task1/raw/{_stem}.{_lang}.gz"
        _multi30k_sources.append(
            Source(
                (
                    github("multi30k/dataset", MULTI30K_COMMIT, _path),
                    f"https://raw.githubusercontent.com/multi30k/dataset/master/{_path}",
                ),
                f"{_stem}.{_lang}.gz",
            )
        )
        _multi30k_outputs.append(
            Output(f"{_stem}.{_lang}", "sha256-converted", SHA256[f"multi30k/{_stem}.{_lang}"])
        )

MULTI30K = Dataset(
    name="multi30k",
    title="Multi30k task 1, en/de/fr (train 29,000, val 1,014, test_2016_flickr 1,000)",
    kind="download",
    licence="research and educational non-commercial use only (Flickr30K terms of use)",
    licence_url="https://github.com/multi30k/dataset#use-of-the-data",
    licence_terms=(
        'Multi30K is derived in part from Flickr30K. Its README says the data is "solely '
        "provided for researchers and educators who wish to use the dataset for non-commercial "
        'research and/or educational purposes"; the Flickr Terms of Use apply to the images.'
    ),
    non_commercial=True,
    citation=(
        "D. Elliott, S. Frank, K. Sima'an, L. Specia, Multi30K: Multilingual English-German "
        "Image Descriptions, VL 2016; Elliott et al., Findings of the Second Shared Task on "
        "Multimodal Machine Translation and Multilingual Image Description, WMT 2017"
    ),
    homepage="https://github.com/multi30k/dataset",
    sources=tuple(_multi30k_sources),
    outputs=tuple(_multi30k_outputs),
    converter=convert.convert_multi30k,
    structure=checks.multi30k,
    notes="raw/*.gz decompressed (deterministic, so the text files are pinned)",
    used_by=("Transformer", "RNNsearch / encoder-decoder", "Luong"),
)

# --- SICK, MSRP, MSRVID, WikiQA, AG News ----------------------------------------------------------

BRMSON = "brmson/dataset-sts"
BRMSON_COMMIT = "e1d3375f5b3bc24f21aa4e46f96eb379e9fc1081"
_sick_sources, _sick_outputs = _copies(
    "sick",
    BRMSON,
    BRMSON_COMMIT,
    {
        f"data/sts/sick2014/{f}": f
        for f in ("SICK_train.txt", "SICK_trial.txt", "SICK_test_annotated.txt", "readme.txt")
    },
)
SICK = Dataset(
    name="sick",
    title="SICK (SemEval-2014 Task 1): relatedness + entailment",
    kind="download",
    licence="CC BY-NC-SA 3.0",
    licence_url="https://creativecommons.org/licenses/by-nc-sa/3.0/",
    licence_terms=(
        "The SICK data set is released under a Creative Commons Attribution-NonCommercial-"
        "ShareAlike 3.0 Unported License: non-commercial use only, with attribution, and "
        "derivatives under the same terms."
    ),
    non_commercial=True,
    citation=(
        "M. Marelli, S. Menini, M. Baroni, L. Bentivogli, R. Bernardi, R. Zamparelli, A SICK cure "
        "for the evaluation of compositional distributional semantic models, LREC 2014"
    ),
    homepage="https://marcobaroni.org/composes/sick.html",
    sources=tuple(_sick_sources),
    outputs=tuple(_sick_outputs),
    structure=checks.sick,
    used_by=("attention-MPCNN", "ABCNN-3"),
)

_msrp_sources, _msrp_outputs = _copies(
    "msrp",
    BRMSON,
    BRMSON_COMMIT,
    {
        **{f"data/para/msr/{f}": f for f in checks.MSRP},
        "data/para/msr/LICENCE.html": "LICENCE.html",
    },
    optional=frozenset({"LICENCE.html"}),
)
MSRP = Dataset(
    name="msrp",
    title="Microsoft Research Paraphrase Corpus (train 3,576 / val 500 / test 1,725)",
    kind="download",
    licence="Microsoft Research Shared Source License (MSR-SSLA), non-commercial",
    licence_url="https://www.microsoft.com/en-us/download/details.aspx?id=52398",
    licence_terms=(
        "The Microsoft Research Paraphrase Corpus is licensed under the Microsoft Research Shared "
        "Source License: non-commercial use only; derivative works must carry its notices and be "
        "distributed under the same terms."
    ),
    non_commercial=True,
    citation=(
        "W. B. Dolan, C. Brockett, Automatically Constructing a Corpus of Sentential "
        "Paraphrases, IWP 2005"
    ),
    homepage="https://www.microsoft.com/en-us/download/details.aspx?id=52398",
    sources=tuple(_msrp_sources),
    outputs=tuple(_msrp_outputs),
    structure=checks.msrp,
    notes="brmson's split: train and test swapped as in recent papers, last 500 train pairs = val",
    used_by=("ABCNN",),
)

_msrvid_sources, _msrvid_outputs = _copies(
    "msrvid",
    "castorini/MP-CNN-Torch",
    "68cb72f6",  # abbreviated: not confirmable offline (docs/datasets-sources.md)
    {"data/msrvid/MSRVID_train": "MSRVID_train.tsv", "data/msrvid/MSRVID_dev": "MSRVID_dev.tsv"},
)
MSRVID = Dataset(
    name="msrvid",
    title="STS 2012 MSRvid, 750 + 750 pairs",
    kind="download",
    licence="not stated (SemEval-2012 STS task data)",
    citation=(
        "E. Agirre, D. Cer, M. Diab, A. Gonzalez-Agirre, SemEval-2012 Task 6: A Pilot on "
        "Semantic Textual Similarity, SemEval 2012"
    ),
    homepage="https://www.cs.york.ac.uk/semeval-2012/task6/",
    sources=tuple(_msrvid_sources),
    outputs=tuple(_msrvid_outputs),
    structure=checks.msrvid,
    notes="renamed from MSRVID_train / MSRVID_dev (dev = the 750-pair test set of the papers)",
    used_by=("attention-MPCNN",),
)

DATA_ALCHEMIST = "SiemensHalske/DataAlchemist"
DATA_ALCHEMIST_COMMIT = "f00790c79ec61f60151544c92701cff36fc57957"
_wikiqa_sources, _wikiqa_outputs = _copies(
    "wikiqa",
    DATA_ALCHEMIST,
    DATA_ALCHEMIST_COMMIT,
    {"data/WikiQA-test.tsv": "WikiQA-test.tsv"},
    mirror_commit=None,  # removed from the repository after this commit
)
WIKIQA = Dataset(
    name="wikiqa",
    title="WikiQA answer selection, train + test (no dev split)",
    kind="download",
    licence="research use (Microsoft Research Data License Agreement); not stated at the source",
    licence_url="https://www.microsoft.com/en-us/download/details.aspx?id=52419",
    licence_terms=(
        "WikiQA is distributed by Microsoft Research for non-commercial research use under the "
        "Microsoft Research Data License Agreement; the copy fetched here states no licence."
    ),
    non_commercial=True,
    citation=(
        "Y. Yang, W. Yih, C. Meek, WikiQA: A Challenge Dataset for Open-Domain Question "
        "Answering, EMNLP 2015"
    ),
    homepage="https://www.microsoft.com/en-us/download/details.aspx?id=52419",
    sources=(
        *_wikiqa_sources,
        Source(
            (github(DATA_ALCHEMIST, DATA_ALCHEMIST_COMMIT, "data/WikiQA-train.tsv"),),
            "WikiQA-train.upstream.tsv",
        ),
    ),
    outputs=(*_wikiqa_outputs, Output("WikiQA-train.tsv", "structure")),
    converter=convert.convert_wikiqa,
    structure=checks.wikiqa,
    gaps=("no dev split (the official 2,733-row dev file was not found): carve one out of train",),
    notes="train re-grouped by question text with ids TQ0..TQ2117 (sentence and label unchanged)",
    used_by=("ABCNN",),
)

_ag_sources, _ag_outputs = _copies(
    "ag_news",
    "suuuch/TransformerClassification",
    "0d9808e1978c8468b4f8f08a44c5be99d058aa7b",
    {f"data/ag_news_csv/{f}": f for f in ("test.csv", "classes.txt", "readme.txt")},
)
AG_NEWS = Dataset(
    name="ag_news",
    title="AG News, test split only (7,600 documents)",
    kind="download",
    licence="academic / non-commercial use (readme.txt); no formal licence named",
    licence_url="http://groups.di.unipi.it/~gulli/AG_corpus_of_news_articles.html",
    licence_terms=(
        'AG News readme.txt: the data is "provided by the academic comunity for research purposes '
        'in data mining ..., and any other non-commercial activity".'
    ),
    non_commercial=True,
    citation=(
        "X. Zhang, J. Zhao, Y. LeCun, Character-level Convolutional Networks for Text "
        "Classification, NIPS 2015"
    ),
    homepage="http://groups.di.unipi.it/~gulli/AG_corpus_of_news_articles.html",
    sources=tuple(_ag_sources),
    outputs=tuple(_ag_outputs),
    structure=checks.ag_news,
    gaps=("train.csv (120,000 rows) is not part of the layout: only the test split is used",),
    used_by=("HAN, structured self-attention, DiSAN-style (80/10/10 stratified split)",),
)

DIGIT_GRIDS = Dataset(
    name="digit_grids",
    title="Digit grids: captioning task generated (seeded) from scikit-learn's bundled digits",
    kind="generated",
    licence="BSD-3-Clause (scikit-learn); UCI optdigits",
    citation=(
        "E. Alpaydin, C. Kaynak, Optical Recognition of Handwritten Digits, UCI Machine Learning "
        "Repository (1998)"
    ),
    homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html#digits-dataset",
    structure=checks.digit_grids,
    notes="generated (seeded) by training/data/digit_grids.py; nothing is downloaded",
    used_by=("Show, Attend and Tell (digit-grid captions)",),
)

DECIDING_SENTENCE = Dataset(
    name="deciding_sentence",
    title="The deciding sentence: documents whose class one marked sentence decides (generated)",
    kind="generated",
    licence="generated by Attentive (no third-party data)",
    citation="Attentive: training/data/deciding_sentence.py (seeded generator)",
    homepage="",
    notes="generated (seeded) by training/data/deciding_sentence.py; nothing is downloaded",
    used_by=("HAN, structured self-attention, DiSAN-style (sentence-attention correctness)",),
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        PLANETOID,
        BABI,
        MULTI30K,
        SICK,
        MSRVID,
        MSRP,
        WIKIQA,
        AG_NEWS,
        DIGIT_GRIDS,
        DECIDING_SENTENCE,
    )
}


def get(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}") from None


def names() -> list[str]:
    return list(DATASETS)
