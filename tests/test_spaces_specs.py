"""Space files: bad specs give one error type naming the field and the file, and the
`hwnas spaces` commands print results or a one-line error."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from cli_runner import hwnas

from hwnas.experiments.results import describe_arch
from hwnas.spaces import Arch, SpaceError, as_space, builtin_spaces, get_space, space_from_data
from hwnas.spaces.yaml_files import ConfigLoader

GOOD = {
    "name": "small",
    "input": {"channels": 1, "length": 16},
    "classes": 4,
    "stem": {"width": 8},
    "block": {
        "mixers": {"conv": {"kernels": [3, 5], "dilations": [1, 2]}, "attn": {}},
        "expansions": [2],
        "precisions": ["fp32", "int8"],
    },
    "stages": [{"depth": [1, 2], "width": [8]}, {"depth": [1], "width": [16], "stride": 2}],
}


def _with(change) -> dict:
    data = copy.deepcopy(GOOD)
    change(data)
    return data


BAD_SPECS = {
    "unknown_mixer": (
        _with(lambda d: d["block"]["mixers"].update(swirl={})),
        ["block.mixers", "swirl"],
    ),
    "even_kernel": (
        _with(lambda d: d["block"]["mixers"]["conv"].update(kernels=[3, 4])),
        ["block.mixers.conv.kernels", "odd", "[4]"],
    ),
    "receptive_field": (
        _with(lambda d: d["block"]["mixers"]["conv"].update(dilations=[1, 8])),
        ["block.mixers.conv.dilations", "[8]", "receptive field"],
    ),
    "dilations_of_a_one_wide_kernel": (
        _with(lambda d: d["block"]["mixers"]["conv"].update(kernels=[1])),
        ["block.mixers.conv.dilations", "[2] never fit: a 1-wide kernel is the same network"],
    ),
    "pool_kernel_never_fits": (  # pooling has no dilation: no receptive-field formula
        _with(lambda d: d["block"]["mixers"].update(pool={"kernels": [3, 17]})),
        ["block.mixers.pool.kernels", "[17] never fit: the kernel is larger than every"],
    ),
    "mixers_as_a_list": (  # said in the file's terms, as every other mapping
        _with(lambda d: d["block"].update(mixers=["conv"])),
        ["block.mixers: Input should be a mapping (key: value lines)"],
    ),
    "kernel_never_fits": (
        _with(lambda d: d["block"]["mixers"]["conv"].update(kernels=[3, 21])),
        ["block.mixers.conv.kernels", "[21]"],
    ),
    "quoted_kernel": (
        _with(lambda d: d["block"]["mixers"]["conv"].update(kernels=["3", 5])),
        ["block.mixers.conv.kernels[0]", "valid integer"],
    ),
    "float_kernel": (
        _with(lambda d: d["block"]["mixers"]["conv"].update(kernels=[3, 5.0])),
        ["block.mixers.conv.kernels[1]", "valid integer"],
    ),
    "name_with_a_path": (_with(lambda d: d.update(name="a b/../x")), ["name", "pattern"]),
    "missing_field": (_with(lambda d: d.pop("classes")), ["classes", "required"]),
    "missing_stage_field": (
        _with(lambda d: d["stages"][1].pop("width")),
        ["stages[1].width", "required"],
    ),
    "wrong_type": (
        _with(lambda d: d["stages"][0].update(depth=[1, "two"])),
        ["stages[0].depth[1]", "integer"],
    ),
    "wrong_type_classes": (_with(lambda d: d.update(classes="ten")), ["classes", "integer"]),
    "unknown_key": (
        _with(lambda d: d.update(colour="red")),
        ["colour: unknown key; the keys here: name,"],
    ),
    "unknown_stage_key": (
        _with(lambda d: d["stages"][0].update(kernel=3)),
        ["stages[0].kernel: unknown key; the keys here: depth, width"],
    ),
    # as a kernel that fits no stage: a listed mixer the space would silently lack
    "attention_never_fits": (
        _with(lambda d: d.update(max_attention_tokens=4)),
        ["block.mixers.attn", "[8, 16] tokens", "max_attention_tokens=4"],
    ),
    "kernel_on_attention": (
        _with(lambda d: d["block"]["mixers"].update(attn={"kernels": [3]})),
        ["block.mixers", "attn", "no kernel"],
    ),
    "unknown_precision": (
        _with(lambda d: d["block"].update(precisions=["fp32", "int3"])),
        ["block.precisions", "int3"],
    ),
    "input_without_length": (
        _with(lambda d: d["input"].pop("length")),
        ["input", "length"],
    ),
    "stage_mixer_too_big": (
        _with(lambda d: d["stages"][1].update(block={"mixers": {"conv": {"kernels": [11]}}})),
        ["stages[1].block.mixers", "(8,)", "receptive field"],
    ),
    "stem_kernel_larger_than_the_input": (
        _with(lambda d: d["stem"].update(kernel=17)),
        ["stem.kernel", "17 is larger than the input (16,)"],
    ),
    # the stage's stride is where it breaks, but the stem's stride is what shrank the map
    "stem_stride_too_large": (
        _with(lambda d: d["stem"].update(stride=16)),
        ["stages[1].stride", "must be 17 or more; the stem, stride 16, leaves (1,)"],
    ),
    # the smallest input is computed: found by trying sizes, this took minutes
    "stride_typo_of_millions": (
        _with(lambda d: d["stages"][1].update(stride=2**24)),
        ["stages[1].stride", "each spatial size must be 16777216 or more"],
    ),
    "bad_kind": (_with(lambda d: d.update(kind="resnet")), ["line ", "kind", "resnet"]),
    # padded by kernel // 2, an even stem kernel grows the map by one and changes the space
    "even_stem_kernel": (_with(lambda d: d["stem"].update(kernel=4)), ["stem.kernel", "odd"]),
    # lax parsing would read true as a width of 1
    "boolean_width": (
        _with(lambda d: d["stages"][0].update(width=[True, 8])),
        ["stages[0].width", "boolean"],
    ),
    "boolean_stem_width": (_with(lambda d: d["stem"].update(width=True)), ["stem.width"]),
    "inception_too_narrow": (
        _with(
            lambda d: (
                d["block"]["mixers"].update(inception={"kernels": [3]}),
                d["stages"][0].update(width=[1, 8]),
            )
        ),
        ["stages[0].width", "inception needs at least 2 channels", "[1]"],
    ),
    # a repeated precision would count every arch twice and sample it twice as often
    "duplicate_precision": (
        _with(lambda d: d["block"].update(precisions=["fp32", "int8", "fp32"])),
        ["block.precisions", "duplicate"],
    ),
    "empty_precisions": (
        _with(lambda d: d["block"].update(precisions=[])),
        ["block.precisions", "at least one"],
    ),
    "empty_depth": (_with(lambda d: d["stages"][0].update(depth=[])), ["stages[0].depth"]),
    "nan_expansion": (
        _with(lambda d: d["block"].update(expansions=[float("nan")])),
        ["block.expansions", "nan"],
    ),
    "infinite_expansion": (
        _with(lambda d: d["block"].update(expansions=[2, float("inf")])),
        ["block.expansions", "inf"],
    ),
    # sizes no network could have fail here, not as a hang or an allocation failure in torch
    "huge_width": (
        _with(lambda d: d["stages"][0].update(width=[8, 10**12])),
        ["stages[0].width", "at most"],
    ),
    "huge_depth": (_with(lambda d: d["stages"][0].update(depth=[1, 5000])), ["stages[0].depth"]),
    "huge_classes": (_with(lambda d: d.update(classes=10**9)), ["classes", "less than"]),
    "huge_stem_width": (_with(lambda d: d["stem"].update(width=10**9)), ["stem.width"]),
    "huge_input_channels": (
        _with(lambda d: d["input"].update(channels=10**9)),
        ["input.channels"],
    ),
    # pool(x) - x with a 1-wide window is zero: the network of the identity mixer
    "pool_kernel_one": (
        _with(lambda d: d["block"]["mixers"].update(pool={"kernels": [1, 3]})),
        ["block.mixers", "pool", "identity"],
    ),
    # two expansions that round to one MLP width would be two keys for one network
    "expansions_same_mlp_width": (
        _with(lambda d: d["block"].update(expansions=[1, 1.05])),
        ["block.expansions", "[1.0, 1.05]", "width 8"],
    ),
    # a width, depth, kernel or dilation of 0 is no network: refused here, not in torch
    "zero_width": (_with(lambda d: d["stages"][0].update(width=[0, 8])), ["stages[0].width"]),
    "zero_dilation": (
        _with(lambda d: d["block"]["mixers"]["conv"].update(dilations=[0, 1])),
        ["block.mixers.conv.dilations", "positive"],
    ),
    # as kernels on attention: a knob the mixer lacks would silently do nothing
    "dilations_on_pool": (
        _with(lambda d: d["block"]["mixers"].update(pool={"kernels": [3], "dilations": [2]})),
        ["block.mixers", "pool", "no dilation"],
    ),
    "huge_expansion": (
        _with(lambda d: d["block"].update(expansions=[2, 1000])),
        ["block.expansions", "at most 64"],
    ),
    # the stages' own blocks may leave a field to the default one, which must so set each
    "incomplete_default_block": (
        _with(lambda d: d["block"].pop("precisions")),
        ["block", "the default block must set precisions"],
    ),
    "zero_attention_tokens": (
        _with(lambda d: d.update(max_attention_tokens=0)),
        ["max_attention_tokens", "greater than or equal to 1"],
    ),
    "input_of_both_kinds": (
        _with(lambda d: d["input"].update(height=16)),
        ["input", "either length (1D) or height and width (2D)"],
    ),
}


def _write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    ("case", "key"),
    [
        ("stage_mixer_too_big", "mixers"),
        ("inception_too_narrow", "width"),
        ("expansions_same_mlp_width", "expansions"),
        ("input_without_length", "input"),
    ],
)
def test_errors_found_while_planning_stages_name_the_line(tmp_path, case, key):
    """Found after parsing (the feature maps are known only then), still placed in the file."""
    path = _write(tmp_path, case, BAD_SPECS[case][0])
    with pytest.raises(SpaceError) as info:
        get_space(path)
    assert str(info.value).count(": line ") == 1, str(info.value)
    line = int(str(info.value).split(": line ")[1].split(":")[0])
    assert f"{key}:" in path.read_text().splitlines()[line - 1]


def test_a_one_wide_kernel_is_one_option_at_any_dilation(tmp_path):
    data = copy.deepcopy(GOOD)
    data["block"]["mixers"] = {"conv": {"kernels": [1, 3], "dilations": [1, 2]}}
    space = get_space(_write(tmp_path, "k1", data))
    conv = {(o.kernel, o.dilation) for o in space.plans[0].options}
    assert conv == {(1, 1), (3, 1), (3, 2)}  # (1, 2) is the same network as (1, 1)


def test_a_kernel_exactly_as_wide_as_the_feature_map_is_an_option(tmp_path):
    """Wider than the map is refused; as wide is not (a mutant dropping it survived)."""
    data = copy.deepcopy(GOOD)
    data["input"]["length"] = 12
    data["block"]["mixers"] = {"conv": {"kernels": [1, 3], "dilations": [1, 2]}}
    data["stages"][1]["stride"] = 4  # the second stage's map: 12 / 4 = 3
    space = get_space(_write(tmp_path, "edge", data))
    assert [p.spatial for p in space.plans] == [(12,), (3,)]
    assert {(o.kernel, o.dilation) for o in space.plans[1].options} == {(1, 1), (3, 1)}


def test_a_dilated_kernel_reaching_exactly_across_the_feature_map_is_an_option(tmp_path):
    """A 3-wide kernel at dilation 2 reaches 2 * (3 - 1) + 1 = 5 positions: it fits a 5-long
    map, at dilation 3 (7) it does not (a mutant taking dilation * kernel, 6, dropped it)."""
    data = copy.deepcopy(GOOD)
    data["input"]["length"] = 20
    data["block"]["mixers"] = {"conv": {"kernels": [3], "dilations": [1, 2, 3]}}
    data["stages"][1]["stride"] = 4  # the second stage's map: 20 / 4 = 5
    space = get_space(_write(tmp_path, "dilated", data))
    assert [p.spatial for p in space.plans] == [(20,), (5,)]
    assert {(o.kernel, o.dilation) for o in space.plans[1].options} == {(3, 1), (3, 2)}


def test_a_spaces_precisions_come_in_the_documented_order_not_the_listed_one(tmp_path):
    """`space.precisions` (the order a device profile measures them in) follows `PRECISIONS`,
    fp32 before fp16: a mutant sorting them by name survived, every test space lacking fp16."""
    data = copy.deepcopy(GOOD)
    data["block"]["precisions"] = ["int8", "fp16", "fp32"]
    space = get_space(_write(tmp_path, "fp16", data))
    assert space.choice_values()["s0.b0.precision"] == ["int8", "fp16", "fp32"]
    assert space.precisions == ["fp32", "fp16", "int8"]


def test_inceptions_fixed_three_wide_branch_must_fit_the_feature_map(tmp_path):
    """Only the listed kernel was held to the feature map: on a 2-long map `inception k1`
    was an option whose built 3-wide branch sees mostly padding (a review's fuzzing)."""
    data = copy.deepcopy(GOOD)
    data["block"]["mixers"] = {"conv": {"kernels": [1]}, "inception": {"kernels": [1]}}
    data["stages"][1]["stride"] = 8  # the second stage's map: 16 / 8 = 2
    space = get_space(_write(tmp_path, "inception", data))
    assert [p.spatial for p in space.plans] == [(16,), (2,)]
    assert [sorted(p.mixers) for p in space.plans] == [["conv", "inception"], ["conv"]]
    arch = space.sample(0)
    choices = {**arch, "s1.b0.mixer": "inception", "s1.b0.kernel": 1}
    with pytest.raises(SpaceError, match=r"s1\.b0\.mixer: 'inception' not in \['conv'\]"):
        space.validate(Arch(space.name, space.version, choices))
    data["stages"][0]["stride"], data["stages"][1]["stride"] = 8, 1  # maps 2 and 2: refused
    with pytest.raises(SpaceError, match=r"\[1\] never fit: the kernel, or the mixer's fixed"):
        get_space(_write(tmp_path, "nowhere", data))


def test_a_kernel_for_a_space_without_kernels_is_named_as_not_canonical(tmp_path):
    """Was a bare KeyError from `validate` (so from build, cost, encode and mutate too)."""
    data = copy.deepcopy(GOOD)
    data["block"]["mixers"] = {"attn": {}, "identity": None}
    space = get_space(_write(tmp_path, "kernelless", data))
    arch = space.sample(0)
    with pytest.raises(SpaceError, match=r"not in canonical form \(s0\.b0\.kernel: 3, canonical"):
        space.validate(Arch(space.name, space.version, {**arch, "s0.b0.kernel": 3}))


def test_good_spec_loads(tmp_path):
    space = get_space(_write(tmp_path, "good", GOOD))
    assert space.input_shape == (1, 16) and space.num_classes == 4
    assert space.cardinality > 0
    space.validate(space.sample(0))


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_one_error_naming_field_and_file(tmp_path, case):
    data, words = BAD_SPECS[case]
    path = _write(tmp_path, case, data)
    with pytest.raises(SpaceError) as info:
        get_space(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, (word, message)


def test_an_experiment_file_given_as_a_space_is_named_as_such(tmp_path):
    demo = Path(__file__).parents[1] / "examples" / "demo.yaml"
    with pytest.raises(SpaceError, match=r"demo.yaml: an experiment file \(it has evaluator, "):
        get_space(demo)
    objectives = _write(tmp_path, "objectives", {**GOOD, "objectives": ["accuracy"]})
    with pytest.raises(SpaceError, match=r"an experiment file \(it has objectives\)"):
        get_space(objectives)


def test_as_space_takes_a_space_a_builtin_name_or_a_space_files_path(tmp_path):
    """What `get_evaluator`, `get_searcher`, `get_predictor` and `build_profile` accept for
    their space: a file's path as a `Path` too, not only as text."""
    space, path = get_space("conv1d"), _write(tmp_path, "good", GOOD)
    assert as_space(space) is space and as_space("conv1d").name == "conv1d"
    assert as_space(path).name == as_space(str(path)).name == "small"
    with pytest.raises(TypeError, match="space must be a SearchSpace"):
        as_space(3)


def test_a_file_without_suffix_a_run_folder_and_an_export_are_told_apart(tmp_path):
    """A space file named without .yaml is read (it was taken for an unknown built-in); a
    run folder points at the space it holds; an exported config is not a space file."""
    plain = tmp_path / "myspace"
    plain.write_text(yaml.safe_dump(GOOD))
    assert get_space(plain).name == "small" and get_space(str(plain)).name == "small"
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(SpaceError, match=f"{run}: a folder, not a space file$"):
        get_space(run)
    (run / "space.yaml").write_text(plain.read_text())
    with pytest.raises(SpaceError, match=f"the space a run started with is its {run}/space.yaml"):
        get_space(run)
    exported = tmp_path / "trial0.json"
    exported.write_text(json.dumps({"format": "hwnas-arch/1", "space": {}, "choices": {}}))
    with pytest.raises(SpaceError, match="an exported architecture config, not a space file"):
        get_space(exported)


def test_yaml_object_tags_are_refused_not_constructed(tmp_path):
    marker = tmp_path / "constructed"
    text = f"name: !!python/object/apply:os.mkdir ['{marker}']\n" + yaml.safe_dump(
        {k: v for k, v in GOOD.items() if k != "name"}
    )
    path = _write(tmp_path, "tagged", text)
    with pytest.raises(SpaceError, match="tagged.yaml"):
        get_space(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "text", ["name: !!python/object/apply:os.getcwd []\n", "name: [unclosed\n", "- a\n- b\n"]
)
def test_cli_unreadable_yaml_is_one_line(tmp_path, capsys, text):
    path = _write(tmp_path, "unreadable", text)
    code, out, err = _run(capsys, "spaces", "show", str(path))
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(path) in err


@pytest.mark.parametrize(
    ("text", "words"),
    [("- just\n- a list\n", ["mapping"]), ("name: [unclosed\n", ["not valid YAML"])],
)
def test_malformed_files(tmp_path, text, words):
    path = _write(tmp_path, "malformed", text)
    with pytest.raises(SpaceError, match=str(path)) as info:
        get_space(path)
    assert all(w in str(info.value) for w in words)


def test_duplicate_yaml_keys_are_refused_naming_key_and_line(tmp_path):
    # plain YAML keeps the last of two equal keys: a silently different space
    text = yaml.safe_dump(GOOD, sort_keys=False).replace("classes: 4\n", "classes: 4\nclasses: 5\n")
    path = _write(tmp_path, "twice", text)
    line = text.splitlines().index("classes: 5") + 1
    with pytest.raises(SpaceError, match=rf"twice.yaml: line {line}: .*duplicate key 'classes'"):
        get_space(path)
    flow = yaml.safe_dump(GOOD, sort_keys=False).replace(
        "stem:\n  width: 8", "stem: {width: 8, width: 16}"
    )
    path = _write(tmp_path, "flow", flow)
    with pytest.raises(SpaceError, match="duplicate key 'width'"):
        get_space(path)


def test_merge_keys_are_not_duplicates(tmp_path):
    text = yaml.safe_dump({k: v for k, v in GOOD.items() if k != "stages"}, sort_keys=False)
    text += "stages:\n- &s {depth: [1, 2], width: [8]}\n- {<<: *s, width: [16], stride: 2}\n"
    space = get_space(_write(tmp_path, "merged", text))
    assert [p.widths for p in space.plans] == [(8,), (16,)]


def test_a_merged_mapping_may_override_what_it_merges_itself(tmp_path):
    """PyYAML puts the merged entries into a mapping's own where it is merged: `wide` below
    held `expansions` twice once `block` had merged it, and was refused as a repeated key
    when constructed after that (it lies deeper than `block`)."""
    text = (
        "name: merged\n"
        "input: {channels: 1, length: 16}\n"
        "classes: 4\n"
        "stem: {width: 8}\n"
        "stages:\n"
        "- depth: [1, 2]\n"
        "  width: [8]\n"
        "  block: &wide\n"
        "    <<: {expansions: [2], precisions: [fp32]}\n"
        "    expansions: [4]\n"
        "block:\n"
        "  <<: *wide\n"
        "  mixers: {conv: {kernels: [3]}}\n"
    )
    assert get_space(_write(tmp_path, "merged", text)) is not None
    assert yaml.load(text, ConfigLoader)["block"]["expansions"] == [4]  # exported configs'
    twice = text.replace("    expansions: [4]\n", "    expansions: [4]\n    expansions: [8]\n")
    with pytest.raises(SpaceError, match="line 11: .*duplicate key 'expansions' .*line 10"):
        get_space(_write(tmp_path, "twice", twice))


def test_a_plain_equals_key_reads_as_text_and_is_checked_for_repeats():
    """PyYAML reads a plain `=` key as the text "=" when it flattens a mapping; the repeated-key
    check read the keys before that and refused it (no constructor for its YAML 1.1 tag)."""
    assert yaml.load("choices: {=: 1, a: 2}", ConfigLoader) == {"choices": {"=": 1, "a": 2}}
    with pytest.raises(yaml.YAMLError, match="duplicate key '='"):
        yaml.load("choices: {=: 1, =: 2}", ConfigLoader)


def test_yaml_as_users_write_it(tmp_path):
    """A bare mixer name (`identity:`, null) has no options; 5e-1 is a number (PyYAML's
    YAML 1.1 wants a dot); a list where a mapping belongs is said in the file's terms."""
    text = (
        "name: bare\n"
        "input: {channels: 1, length: 16}\n"
        "classes: 4\n"
        "stem: {width: 8}\n"
        "block:\n"
        "  mixers:\n"
        "    conv: {kernels: [3]}\n"
        "    identity:\n"
        "  expansions: [5e-1, 2]\n"
        "  precisions: [fp32]\n"
        "stages:\n"
        "  - {depth: [1], width: [8]}\n"
    )
    space = get_space(_write(tmp_path, "bare", text))
    assert space.plans[0].mixers == ["conv", "identity"] and space.plans[0].expansions == (0.5, 2)
    listed = text.replace("input: {channels: 1, length: 16}", "input: [1, 16]")
    with pytest.raises(SpaceError, match="line 2: input: Input should be a mapping") as info:
        get_space(_write(tmp_path, "listed", listed))
    assert "InputSpec" not in str(info.value)


def test_zero_padded_and_base_60_numbers_are_not_yaml_1_1_numbers(tmp_path):
    """PyYAML (YAML 1.1) reads 016 as octal 14, 1:30 as 90 and 0:02.0 as 2.0 (base 60): a
    silently other space. As in YAML 1.2, 016 is 16 (0o40 and 0x18 are octal and
    hexadecimal) and 1:30 and 0:02.0 are no numbers."""
    text = yaml.safe_dump({k: v for k, v in GOOD.items() if k != "stages"}, sort_keys=False)
    padded = text + "stages:\n- {depth: [01, 02], width: [016, 0o40, 0x18]}\n"
    space = get_space(_write(tmp_path, "padded", padded))
    assert space.plans[0].depths == (1, 2) and space.plans[0].widths == (16, 24, 32)
    sexagesimal = text + "stages:\n- {depth: [1], width: [1:30]}\n"
    with pytest.raises(SpaceError, match=r"stages\[0\]\.width\[0\]: Input should be a valid int"):
        get_space(_write(tmp_path, "sexagesimal", sexagesimal))
    expansion = text + "stages:\n- {depth: [1], width: [8], block: {expansions: [0:02.0]}}\n"
    said = r"stages\[0\]\.block\.expansions\[0\]: Input should be a valid number"
    with pytest.raises(SpaceError, match=said):
        get_space(_write(tmp_path, "sexagesimal_float", expansion))


@pytest.mark.parametrize("tagged", ["!!int x", "!!float x", "!!timestamp x"])
def test_a_tag_on_a_value_it_cannot_read_is_an_error_naming_the_line(tmp_path, tagged):
    """Was a bare ValueError traceback from PyYAML's reader of the tag."""
    text = yaml.safe_dump(GOOD, sort_keys=False) + f"note: {tagged}\n"
    line = text.count("\n")
    said = rf"tagged\.yaml: line {line}: not valid YAML: cannot read 'x' as {tagged[:-2]}"
    with pytest.raises(SpaceError, match=said):
        get_space(_write(tmp_path, "tagged", text))


def test_schema_errors_name_the_line(tmp_path):
    text = (
        "name: lines\n"
        "input: {channels: 1, length: 16}\n"
        "classes: ten\n"
        "stem: {width: 8}\n"
        "block:\n"
        "  mixers: {attn: {}}\n"
        "  expansions: [2]\n"
        "  precisions: [fp32]\n"
        "stages:\n"
        "  - {depth: [1], width: [8]}\n"
        "  - depth: [1]\n"
        "    width: [8, -16]\n"
    )
    path = _write(tmp_path, "lines", text)
    with pytest.raises(SpaceError) as info:
        get_space(path)
    message = str(info.value)
    assert f"{path}: line 3: classes:" in message
    assert "line 12: stages[1].width:" in message


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda d: d.update(clases=4), "clases: unknown key (did you mean 'classes'?)"),
        (
            lambda d: d["stages"][1].update(strides=2),
            "stages[1].strides: unknown key (did you mean 'stride'?); the keys here: depth, "
            "width, stride, block",
        ),
        (
            lambda d: d["block"]["mixers"]["conv"].update(dilation=[1]),
            "block.mixers.conv.dilation: unknown key (did you mean 'dilations'?); the keys "
            "here: kernels, dilations",
        ),
    ],
)
def test_an_unknown_key_names_the_keys_of_its_place(tmp_path, change, said):
    """A misspelt key is named with the closest known one, not only "not permitted"."""
    path = _write(tmp_path, "typo", yaml.safe_dump(_with(change)))
    with pytest.raises(SpaceError, match=re.escape(said)):
        get_space(path)


def test_an_unknown_key_of_a_nasbench201_file_names_the_keys(tmp_path):
    text = get_space("nasbench201-pruned").source
    path = _write(tmp_path, "nb", Path(text).read_text() + "dead_op: prune\n")
    with pytest.raises(SpaceError, match=r"dead_op: unknown key \(did you mean 'dead_ops'\?\)"):
        get_space(path)


def test_missing_file_binary_file_and_unknown_name(tmp_path):
    with pytest.raises(SpaceError, match="nowhere.yaml"):
        get_space("/nonexistent/nowhere.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(SpaceError, match="binary.yaml: not a text"):
        get_space(binary)
    with pytest.raises(SpaceError, match="conv2d"):
        get_space("resnet")  # the message lists the built-in spaces
    with pytest.raises(SpaceError, match=r"unknown space 'CONV1D' \(did you mean 'conv1d'\?\)"):
        get_space("CONV1D")
    with pytest.raises(SpaceError, match="the space is empty"):
        get_space("")  # not the current folder
    for not_a_name in (None, get_space("conv1d"), {"name": "conv1d"}):  # not "unknown space"
        with pytest.raises(TypeError, match="get_space takes a space's name or a space file"):
            get_space(not_a_name)
    mine = _write(tmp_path, "mine", GOOD)
    with pytest.raises(SpaceError, match=f"did you mean the file {mine}\\?"):
        get_space(tmp_path / "mine")


@pytest.mark.parametrize("name", ["x" * 5000, "x" * 5000 + ".yaml"])
def test_a_space_name_longer_than_a_file_name_may_be_is_a_space_error_naming_it(name):
    """It ended in the OS's bare "[Errno 36] File name too long"."""
    with pytest.raises(SpaceError, match=rf"^{name}: cannot read: File name too long$"):
        get_space(name)


def test_space_from_data_takes_a_mapping_and_says_so():
    """Data that is no mapping (a list, None) failed on `.get`, naming no argument."""
    for not_a_mapping in ([], None):
        with pytest.raises(TypeError, match=r"^data must be a mapping of a space file's fields"):
            space_from_data(not_a_mapping, "src")


def test_a_device_given_as_a_file_is_read_to_a_bound(tmp_path):
    """A space, experiment or exported config file that is a device (`/dev/zero`) was read
    until memory ran out; reading stops past what any such file holds."""
    from hwnas.experiments import ExperimentError, load_experiment

    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    said = f"{zero}: more than 64 Mi characters, more than any space, experiment, config"
    with pytest.raises(SpaceError, match=re.escape(said)):
        get_space(zero)
    with pytest.raises(ExperimentError, match=re.escape(said)):
        load_experiment(zero)


def test_a_file_of_the_bounds_characters_is_read_whole(tmp_path, monkeypatch):
    """The bound counts characters, not bytes, and a file of exactly that many is read:
    only one holding more is refused."""
    from hwnas.spaces.yaml_files import read_text

    monkeypatch.setattr("hwnas.spaces.yaml_files.MAX_TEXT_CHARS", 12)
    (text := tmp_path / "t.yaml").write_text("\u00e9" * 12)  # 24 bytes
    assert read_text(text) == "\u00e9" * 12
    text.write_text("\u00e9" * 13)
    with pytest.raises(SpaceError, match=f"^{text}: more than 0 Mi characters"):
        read_text(text)


def test_json_or_none_answers_none_for_every_file_that_is_no_json(tmp_path, monkeypatch):
    """The kind checks (is this a predictor, a profile's metadata) read a file through
    `json_or_none`: a file that is gone, of no UTF-8 text, too big, not JSON or JSON
    nested past Python's recursion limit is simply not one, never an error."""
    from hwnas.spaces.yaml_files import json_or_none

    monkeypatch.setattr("hwnas.spaces.yaml_files.MAX_TEXT_CHARS", 10**5)
    (good := tmp_path / "good.json").write_text('\ufeff{"kind": [1, 2]}', encoding="utf-8")
    assert json_or_none(good) == {"kind": [1, 2]}
    files = {
        "gone": None,
        "binary": b"\xff\xfe\x00\x81",
        "too big": b"[" + b" " * 10**5 + b"]",
        "not JSON": b"kind: 1",
        "nested": b"[" * 50_000 + b"]" * 50_000,
    }
    for name, content in files.items():
        path = tmp_path / f"{name}.json"
        if content is not None:
            path.write_bytes(content)
        assert json_or_none(path) is None, name


# -- CLI --------------------------------------------------------------------------------------
def _run(capsys, *args) -> tuple[int, str, str]:
    code = hwnas(*args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", ["unknown_mixer", "even_kernel", "wrong_type"])
def test_cli_show_bad_spec_prints_one_line(tmp_path, capsys, case):
    path = _write(tmp_path, case, BAD_SPECS[case][0])
    code, out, err = _run(capsys, "spaces", "show", str(path))
    assert code != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in err


def test_several_problems_are_reported_on_one_line(tmp_path, capsys):
    data = _with(lambda d: d.update(classes="ten", colour="red"))
    path = _write(tmp_path, "two", data)
    with pytest.raises(SpaceError) as info:
        get_space(path)
    assert "\n" not in str(info.value)
    assert "classes" in str(info.value) and "colour" in str(info.value)
    code, _, err = _run(capsys, "spaces", "show", str(path))
    assert code != 0 and len(err.strip().splitlines()) == 1


def test_console_script_reports_bad_spec_without_traceback(tmp_path):
    path = _write(tmp_path, "bad", BAD_SPECS["unknown_mixer"][0])
    hwnas = Path(sys.executable).parent / "hwnas"
    script = [sys.executable, "-c", "from hwnas.cli import main; main()"]  # what it runs
    command = [str(hwnas)] if hwnas.exists() else script  # (hwnas.cli has no __main__)
    result = subprocess.run(
        [*command, "spaces", "show", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "swirl" in result.stderr


@pytest.mark.parametrize(
    ("encoding", "folder", "shown"),
    [
        ("utf-8", b"donn\xe9es", b"source: donn\\udce9es/s.yaml"),  # a Latin-1 folder name
        ("latin-1", "données".encode(), b"description: en\\u2014bas\n"),
    ],
)
def test_show_prints_what_stdouts_encoding_cannot_hold_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str, folder: bytes, shown: bytes
) -> None:
    """A strict stdout (`PYTHONIOENCODING`, or a UTF-8 locale other than C.UTF-8 given a name
    that is no UTF-8) failed with "can't encode character" and printed nothing but that:
    what it cannot hold is escaped, as Python's stderr escapes it."""
    monkeypatch.chdir(tmp_path)
    os.mkdir(folder)
    spec = Path(os.fsdecode(folder)) / "s.yaml"
    spec.write_text(yaml.safe_dump({**GOOD, "description": "en\u2014bas"}))
    result = subprocess.run(
        [sys.executable, "-m", "hwnas", "spaces", "show", str(spec)],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": encoding},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout


def test_cli_list(capsys):
    code, out, _ = _run(capsys, "spaces", "list")
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines] == builtin_spaces()
    assert len({line.index(" v") for line in lines}) == 1  # one column of versions
    assert {"conv1d", "conv2d", "nasbench201"} <= set(builtin_spaces())


@pytest.mark.parametrize("name", ["conv2d", "nasbench201"])
def test_cli_show_json(capsys, name):
    code, out, _ = _run(capsys, "spaces", "show", name, "--json")
    assert code == 0
    shown = json.loads(out)
    space = get_space(name)
    assert shown["cardinality"] == str(space.cardinality)
    assert shown["input_shape"] == list(space.input_shape)
    code, text, _ = _run(capsys, "spaces", "show", name)
    assert code == 0 and str(space.cardinality) in text


def test_cli_show_reads_a_user_file(tmp_path, capsys):
    path = _write(tmp_path, "good", GOOD)
    code, out, _ = _run(capsys, "spaces", "show", str(path), "--json")
    assert code == 0 and json.loads(out)["name"] == "small"


def test_cli_show_prints_the_fixed_parts_of_the_network(tmp_path, capsys):
    """`show` printed neither the stem (its width, kernel and stride build the network too, and
    its stride sets the feature maps) nor the attention bound in effect, nor nasbench201's
    channels and cells per stage: a file's mistake there went unseen."""
    data = _with(lambda d: d["stem"].update(kernel=5, stride=2))
    code, out, _ = _run(capsys, "spaces", "show", str(_write(tmp_path, "s", data)), "--json")
    shown = json.loads(out)
    assert shown["stem"] == {"width": 8, "kernel": 5, "stride": 2, "feature_map": [8]}
    assert shown["max_attention_tokens"] == 256  # the default, unset in the file
    code, out, _ = _run(capsys, "spaces", "show", str(tmp_path / "s.yaml"))
    assert "stem: width 8 kernel 5 stride 2 feature map [8]" in out.splitlines()
    assert "max_attention_tokens: 256" in out.splitlines()
    nb = {"name": "nb", "kind": "nasbench201", "channels": 8, "cells_per_stage": 2}
    code, out, _ = _run(capsys, "spaces", "show", str(_write(tmp_path, "nb", nb)))
    assert code == 0 and {"channels: 8", "cells_per_stage: 2"} <= set(out.splitlines())


@pytest.mark.parametrize("name", ["conv1d", "nasbench201"])
def test_cli_sample_json_lines(capsys, name):
    code, out, _ = _run(capsys, "spaces", "sample", name, "-n", "3", "--seed", "4", "--json")
    assert code == 0
    records = [json.loads(line) for line in out.strip().splitlines()]
    assert len(records) == 3
    space = get_space(name)
    for record in records:
        assert set(record) == {"arch", "key", "params", "macs", "size_bytes", "description"}
        arch = space.validate(Arch.from_dict(record["arch"]))
        assert record["description"] == describe_arch(space, arch)
        assert arch.key == record["key"]
        cost = space.cost(arch)
        assert (record["params"], record["macs"], record["size_bytes"]) == (
            cost.params,
            cost.macs,
            cost.size_bytes,
        )
    assert _run(capsys, "spaces", "sample", name, "-n", "3", "--seed", "4", "--json")[1] == out
    code, text, _ = _run(capsys, "spaces", "sample", name, "-n", "3", "--seed", "4")
    lines = text.strip().splitlines()
    assert code == 0 and lines[1::2] == [f"    {r['description']}" for r in records]
    if name == "nasbench201":  # the standard cell string
        assert all(r["description"].startswith("|") for r in records)


def test_cli_sample_takes_the_overrides_show_takes(capsys):
    """Sampled at another input shape and class count, as an experiment's space would be."""
    args = ("spaces", "sample", "conv1d", "-n", "2", "--json", "--input", "1,8", "--classes", "3")
    code, out, _ = _run(capsys, *args)
    small = get_space("conv1d", input_shape=(1, 8), num_classes=3)
    assert len(out.strip().splitlines()) == 2
    for line in out.strip().splitlines():
        record = json.loads(line)
        arch = small.validate(Arch.from_dict(record["arch"]))  # only choices that fit there
        assert record["params"] == small.cost(arch).params
    assert code == 0 and _run(capsys, "spaces", "sample", "conv1d", "--input", "1,x")[0] == 2


def test_cli_sample_takes_the_count_as_samples_too(capsys):
    """`-n` alone had no long form; `--samples` names it as `latency profile` names its
    count of random architectures."""
    short = _run(capsys, "spaces", "sample", "conv1d", "-n", "2", "--json")
    long = _run(capsys, "spaces", "sample", "conv1d", "--samples", "2", "--json")
    assert long == short and short[0] == 0 and len(short[1].splitlines()) == 2


def test_cli_sample_rejects_zero(capsys):
    code, _, err = _run(capsys, "spaces", "sample", "conv1d", "-n", "0")
    assert code != 0 and "Traceback" not in err
    # typer 0.2x's own click says "greater than or equal to 1", click itself "x>=1"
    assert "'-n'" in err and re.search("greater than or equal to 1|x>=1", err)
    code, _, err = _run(capsys, "spaces", "sample", "conv1d", "--seed", "-1")
    assert code != 0 and "'--seed'" in err
    assert re.search("greater than or equal to 0|x>=0", err)


def test_cli_sample_says_when_draws_must_repeat(tmp_path, capsys):
    one = _with(lambda d: d["block"].update(mixers={"conv": {"kernels": [3]}}))
    one["block"]["precisions"] = ["fp32"]
    one["stages"] = [{"depth": [1], "width": [8]}]
    path = _write(tmp_path, "one", one)
    code, out, err = _run(capsys, "spaces", "sample", str(path), "-n", "3")
    keys = [line.split()[0] for line in out.splitlines() if not line.startswith(" ")]
    assert code == 0 and len(keys) == 3 and len(set(keys)) == 1  # the one key, three times
    assert "hwnas: note: the space has only 1 architecture: draws repeat them" in err
    code, _, err = _run(capsys, "spaces", "sample", "conv1d", "-n", "3")
    assert code == 0 and "note:" not in err


@pytest.mark.parametrize("name", ["conv1d", "conv2d", "nasbench201"])
def test_overrides_from_code_take_numpy_integers_and_refuse_fractions_and_bools(name):
    """Space files take numbers strictly; shapes computed in code often hold numpy ints."""
    shape = np.array(get_space(name).input_shape, dtype=np.int64)
    shape[-1] -= 1
    space = get_space(name, input_shape=tuple(shape), num_classes=np.int64(5))
    assert space.input_shape == tuple(int(d) for d in shape) and space.num_classes == 5
    with pytest.raises(SpaceError, match="overrides must be whole numbers"):
        get_space(name, num_classes=5.5)
    for flagged in ({"num_classes": True}, {"input_shape": (True, *shape[1:])}):
        with pytest.raises(SpaceError, match="overrides must be whole numbers"):
            get_space(name, **flagged)  # taken for 1 before


def test_cli_show_for_another_input_lists_the_options_that_still_fit(capsys):
    """What an experiment's `space: {input, classes}` leaves of a space, before running it."""
    code, out, _ = _run(capsys, "spaces", "show", "conv2d", "--json")
    full = json.loads(out)
    code, out, _ = _run(
        capsys, "spaces", "show", "conv2d", "--input", "1,8,8", "--classes", "4", "--json"
    )
    small = json.loads(out)
    assert code == 0 and small["input_shape"] == [1, 8, 8] and small["num_classes"] == 4
    assert int(small["cardinality"]) < int(full["cardinality"])  # large kernels no longer fit
    assert full["left_out"] == [] and any("kernels" in line for line in small["left_out"])
    code, out, _ = _run(capsys, "spaces", "show", "conv2d", "--input", "1,8,8")
    assert "left out at this input: block.mixers." in out and "never fit" in out
    code, _, err = _run(capsys, "spaces", "show", "conv2d", "--input", "1,x")
    assert code != 0 and "--input" in err and "separated by commas" in err
    code, _, err = _run(capsys, "spaces", "show", "conv1d", "--input", "1,2")
    assert code != 0 and "stem.kernel: 3 is larger than the input (2,)" in err  # as in a file
    assert "with the input overridden to (1, 2)" in err


def test_cli_show_rounds_a_cardinality_of_hundreds_of_digits(tmp_path, capsys):
    data = _with(lambda d: d["stages"][0].update(depth=[1, 200]))
    data["description"] = "a deep one"
    code, out, _ = _run(capsys, "spaces", "show", str(_write(tmp_path, "deep", data)))
    shown = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    exact = str(get_space(tmp_path / "deep.yaml").cardinality)
    assert code == 0 and len(exact) > 100 and shown["description"] == "a deep one"
    assert shown["cardinality"] == f"about {exact[0]}.{exact[1:3]}e+{len(exact) - 1} " + (
        f"({len(exact)} digits)"
    )


def test_cli_show_gives_a_cardinality_past_pythons_digit_limit(tmp_path, capsys):
    """Five stages of up to 1024 blocks (the depth limit) hold 10^5120 architectures: `show`
    stopped on Python's limit of 4300 digits for turning an int into text ("use
    sys.set_int_max_str_digits() to increase the limit"), which no user of hwnas can do."""
    data = _with(lambda d: d.update(stages=[{"depth": [1024], "width": [8]}] * 5))
    path = _write(tmp_path, "deeper", data)
    assert get_space(path).log10_cardinality == pytest.approx(5120)
    code, out, _ = _run(capsys, "spaces", "show", str(path), "--json")
    assert code == 0 and json.loads(out)["cardinality"] == "1" + "0" * 5120
    code, out, _ = _run(capsys, "spaces", "show", str(path))
    assert code == 0 and "cardinality: about 1.00e+5120 (5121 digits)" in out.splitlines()


def test_cli_show_rounds_a_long_cardinality_half_up(tmp_path, capsys):
    """8888...8 (41 digits) was shown as 'about 8.88e+40', its first digits cut off."""
    data = _with(lambda d: d["stages"][0].update(depth=list(range(1, 41))))
    code, out, _ = _run(capsys, "spaces", "show", str(_write(tmp_path, "deep", data)))
    exact = get_space(tmp_path / "deep.yaml").cardinality
    digits = len(str(exact))
    assert code == 0 and digits > 30 and str(exact)[:4] == "8888"
    assert f"cardinality: about 8.89e+{digits - 1} ({digits} digits)" in out.splitlines()


def test_the_guides_space_file_and_python_example_work(tmp_path, monkeypatch):
    """docs/guide.md's own space file loads, and its Python example for spaces runs."""
    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide.md").read_text()
    (space_yaml,) = [b for b in guide.split("```yaml\n")[1:] if b.startswith("name: tiny1d")]
    space = get_space(_write(tmp_path, "tiny1d", space_yaml.split("```")[0]))
    assert space.name == "tiny1d" and "identity" in space.plans[0].mixers
    section = guide.split("In Python, a space is what `get_space` returns")[1]
    code = section.split("```python\n")[1].split("```")[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "guide.md", "exec"), {})  # runs as a user would paste it


def test_the_guide_names_every_key_of_a_space_file() -> None:
    """Every key a space file may hold, of either kind and at any depth, is in docs/guide.md's
    section on space files (a `kind: nasbench201` file's `channels` and `cells_per_stage`
    were not)."""
    from pydantic import BaseModel

    from hwnas.spaces.nasbench201 import NasBench201Spec
    from hwnas.spaces.spec import MetaFormerSpec

    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide.md").read_text()
    section = guide.split("### Search spaces")[1].split("\n## ")[0]

    def keys(model: type[BaseModel]) -> set[str]:
        found = set(model.model_fields)
        for field in model.model_fields.values():
            for inner in [field.annotation, *getattr(field.annotation, "__args__", ())]:
                for part in [inner, *getattr(inner, "__args__", ())]:  # list[X] | None, dict
                    if isinstance(part, type) and issubclass(part, BaseModel):
                        found |= keys(part)
        return found

    every = keys(MetaFormerSpec) | keys(NasBench201Spec)
    missing = sorted(k for k in every if not re.search(rf"\b{k}\b", section))
    assert not missing, missing
