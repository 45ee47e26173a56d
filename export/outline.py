"""Group each attention mechanism's nodes into one named ONNX local function.

The dynamo exporter stamps every node with ``pkg.torch.onnx.name_scopes``: the module paths it
was traced under. Every node under an ``AttentionCore`` module path becomes part of one
``FunctionProto`` (domain ``ai.attentive``, name = the mechanism's ONNX name) and is replaced by
a single call node. Inputs of the function are the values its nodes read from outside; outputs
are the values they produce that anything outside reads. Works in Loop/If bodies too.

Identical bodies share one function; a body that differs (other constants, say) becomes an
overload of the same name, so every call still reads ``GraphAttention`` in any viewer.

Inside the body of a ``while_loop`` (an ONNX Loop) the exporter records no module path, so a core
that runs there marks its own boundary while exporting: one ``ai.attentive.boundary::Enter`` node
over the core's inputs and one ``Exit`` node over its outputs, both carrying the function name
and a call id (see training/attention/owned.py). The nodes between them (everything the outputs
depend on, back to the entered inputs) become the function; the markers are removed.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator

import onnx
from onnx import helper

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
# Boundary markers (training/attention/owned.py writes them with the same names).
BOUNDARY_DOMAIN = "ai.attentive.boundary"
ENTER, EXIT = "Enter", "Exit"


def _scopes(node: onnx.NodeProto) -> list[str]:
    for prop in node.metadata_props:
        if prop.key == SCOPES_KEY:
            value = ast.literal_eval(prop.value)
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return []


def _subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def _has_subgraphs(node: onnx.NodeProto) -> bool:
    return any(True for _ in _subgraphs(node))


def _reads(node: onnx.NodeProto) -> set[str]:
    """Every value a node reads, including outer-scope values read inside its subgraphs."""
    names = {i for i in node.input if i}
    for g in _subgraphs(node):
        local = {i.name for i in g.input} | {i.name for i in g.initializer}
        for n in g.node:
            local.update(n.output)
        for n in g.node:
            names |= _reads(n) - local
        names |= {o.name for o in g.output} - local
    return names


# Ops that compute shapes and indices: the exporter shares such helpers between modules.
SHAPE_OPS = frozenset(
    {
        "Constant",
        "Shape",
        "Size",
        "Concat",
        "Gather",
        "Unsqueeze",
        "Squeeze",
        "Slice",
        "Cast",
        "Range",
        "ConstantOfShape",
        "Reshape",
    }
)


def _hoist_shared_helpers(
    members: list[onnx.NodeProto], graph: onnx.GraphProto
) -> list[onnx.NodeProto]:
    """Leave out of the function the shape helpers that nodes outside it also read (with their
    in-group shape-op ancestors): they belong to the graph, not to this attention layer."""
    member_ids = {id(n) for n in members}
    read_outside = {r for n in graph.node if id(n) not in member_ids for r in _reads(n)}
    producer = {o: n for n in members for o in n.output}
    hoisted: set[int] = set()

    def shape_only(node: onnx.NodeProto) -> bool:
        if node.op_type not in SHAPE_OPS:
            return False
        return all(shape_only(producer[i]) for i in node.input if i in producer)

    def hoist(node: onnx.NodeProto) -> None:
        hoisted.add(id(node))
        for i in node.input:
            if i in producer:
                hoist(producer[i])

    for node in members:
        if any(o in read_outside for o in node.output) and shape_only(node):
            hoist(node)
    return [n for n in members if id(n) not in hoisted]


def _toposort(nodes: list[onnx.NodeProto], available: set[str]) -> list[onnx.NodeProto]:
    producer = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    deps = [{producer[r] for r in _reads(n) if r in producer and r not in available} for n in nodes]
    done: set[int] = set()
    order: list[onnx.NodeProto] = []
    while len(order) < len(nodes):
        progressed = False
        for i, n in enumerate(nodes):
            if i not in done and deps[i] <= done:
                done.add(i)
                order.append(n)
                progressed = True
        if not progressed:
            raise ValueError("outlining produced a cycle in the graph")
    return order


def _canonical(fn: onnx.FunctionProto) -> bytes:
    clone = onnx.FunctionProto()
    clone.CopyFrom(fn)
    clone.name, clone.overload = "", ""
    rename = {n: f"i{k}" for k, n in enumerate(fn.input)}
    rename.update({n: f"o{k}" for k, n in enumerate(fn.output)})
    count = 0
    for node in clone.node:
        node.name = ""
        del node.metadata_props[:]
        for k, name in enumerate(node.input):
            node.input[k] = rename.get(name, name)
        for k, name in enumerate(node.output):
            if name not in rename:
                rename[name] = f"t{count}"
                count += 1
            node.output[k] = rename[name]
    clone.input[:] = [rename[n] for n in fn.input]
    clone.output[:] = [rename[n] for n in fn.output]
    return clone.SerializeToString(deterministic=True)


class Outliner:
    def __init__(self, model: onnx.ModelProto, domain: str) -> None:
        self.model = model
        self.domain = domain
        self.bodies: dict[tuple[str, bytes], str] = {}  # (name, canonical body) -> overload
        self.counts: Counter[str] = Counter()
        self.marked: dict[tuple[str, int], int] = {}  # (function, call) -> pairs outlined

    def run(self, groups: dict[str, str]) -> Counter[str]:
        self._graph(self.model.graph, groups, outer=set())
        if self.counts and not any(o.domain == self.domain for o in self.model.opset_import):
            self.model.opset_import.append(helper.make_opsetid(self.domain, 1))
        return self.counts

    def _graph(self, graph: onnx.GraphProto, groups: dict[str, str], outer: set[str]) -> None:
        available = outer | {i.name for i in graph.input} | {i.name for i in graph.initializer}
        for node in graph.node:
            for g in _subgraphs(node):
                self._graph(g, groups, available | {o for n in graph.node for o in n.output})
        self._marked(graph, available)
        for path, fname in groups.items():
            members = _hoist_shared_helpers([n for n in graph.node if path in _scopes(n)], graph)
            if members:
                self._outline(graph, members, fname, path, available)

    def _marked(self, graph: onnx.GraphProto, available: set[str]) -> None:
        """Outline every Enter/Exit-marked group of this graph (not of its subgraphs).

        One pair at a time, found afresh in the current graph: outlining rebuilds
        ``graph.node``, so node objects found before it no longer belong to the graph (with
        several marked cores in one graph, later pairs were left in place)."""
        while (pair := self._first_pair(graph)) is not None:
            fname, call, k, enter, exit_ = pair
            rename = dict(zip(enter.output, enter.input, strict=True))
            rename.update(zip(exit_.output, exit_.input, strict=True))
            kept = [n for n in graph.node if n is not enter and n is not exit_]
            del graph.node[:]
            graph.node.extend(kept)
            _rename_reads(graph, rename)
            stale = [v for v in graph.value_info if v.name in rename]
            for v in stale:
                graph.value_info.remove(v)
            boundary = set(enter.input)
            producer = {o: n for n in graph.node for o in n.output if o}
            members: dict[int, onnx.NodeProto] = {}
            stack = [name for name in exit_.input if name not in boundary]
            while stack:
                found = producer.get(stack.pop())
                if found is None or id(found) in members:
                    continue
                members[id(found)] = found
                stack.extend(r for r in _reads(found) if r not in boundary)
            ordered = [n for n in graph.node if id(n) in members]
            ordered = _hoist_shared_helpers(ordered, graph)
            io = (list(enter.input), list(exit_.input))
            self._outline(graph, ordered, fname, f"{fname}_{call}_{k}", available, io)
            self.marked[(fname, call)] = k + 1

    def _first_pair(
        self, graph: onnx.GraphProto
    ) -> tuple[str, int, int, onnx.NodeProto, onnx.NodeProto] | None:
        """The first (function, call)'s first Enter/Exit pair still in ``graph`` (a core called
        twice: its pairs in order), or None."""
        marks: dict[tuple[str, int], dict[str, list[onnx.NodeProto]]] = {}
        for node in graph.node:
            if node.domain == BOUNDARY_DOMAIN:
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                fname = attrs["function"]
                key = (
                    fname.decode() if isinstance(fname, bytes) else str(fname),
                    int(attrs["call"]),
                )
                marks.setdefault(key, {}).setdefault(node.op_type, []).append(node)
        for (fname, call), found in marks.items():
            enters, exits = found.get(ENTER, []), found.get(EXIT, [])
            if len(enters) != len(exits):
                raise ValueError(f"{fname} call {call}: {len(enters)} Enter, {len(exits)} Exit")
            if enters:
                return fname, call, self.marked.get((fname, call), 0), enters[0], exits[0]
        return None

    def _outline(
        self,
        graph: onnx.GraphProto,
        members: list[onnx.NodeProto],
        fname: str,
        path: str,
        available: set[str],
        io: tuple[list[str], list[str]] | None = None,
    ) -> None:
        """``io``: the function's inputs and outputs in this order first (marked groups)."""
        member_ids = {id(n) for n in members}
        produced = [o for n in members for o in n.output if o]
        produced_set = set(produced)
        inputs: list[str] = []
        read = {r for n in members for r in _reads(n)}
        if io is not None:
            for i in io[0]:  # keys and values are often one tensor: one input
                if i in read and i not in produced_set and i not in inputs:
                    inputs.append(i)
        for n in members:
            for r in sorted(_reads(n)) if _has_subgraphs(n) else n.input:
                if r and r not in produced_set and r not in inputs:
                    inputs.append(r)
        read_outside = {r for n in graph.node if id(n) not in member_ids for r in _reads(n)}
        read_outside |= {o.name for o in graph.output}
        outputs = [o for o in produced if o in read_outside]
        if io is not None:
            outputs = [o for o in io[1] if o in outputs] + [o for o in outputs if o not in io[1]]
        body = list(members)
        fn = helper.make_function(
            self.domain,
            fname,
            inputs,
            outputs,
            body,
            opset_imports=[o for o in self.model.opset_import if o.domain != self.domain],
        )
        key = (fname, _canonical(fn))
        if key not in self.bodies:
            overload = "" if not any(k[0] == fname for k in self.bodies) else path
            self.bodies[key] = overload
            fn.overload = overload
            self.model.functions.append(fn)
        call = helper.make_node(fname, inputs, outputs, name=path, domain=self.domain)
        call.overload = self.bodies[key]
        call.metadata_props.add(key=SCOPES_KEY, value=repr([path]))
        kept = [n for n in graph.node if id(n) not in member_ids] + [call]
        ordered = _toposort(kept, available)
        del graph.node[:]
        graph.node.extend(ordered)
        internal = produced_set - set(outputs)
        kept_info = [v for v in graph.value_info if v.name not in internal]
        del graph.value_info[:]
        graph.value_info.extend(kept_info)
        self.counts[fname] += 1


def _rename_reads(graph: onnx.GraphProto, rename: dict[str, str]) -> None:
    """Make every read of a renamed value (nodes, nested subgraphs, graph outputs) read the new
    name. Values are never redefined inside nested subgraphs by the exporter (SSA names)."""
    for node in graph.node:
        for k, name in enumerate(node.input):
            node.input[k] = rename.get(name, name)
        for g in _subgraphs(node):
            _rename_reads(g, rename)
    for out in graph.output:
        if out.name in rename:
            # A graph output may not simply vanish: keep its name, produced by an Identity.
            graph.node.append(helper.make_node("Identity", [rename[out.name]], [out.name]))


def outline(model: onnx.ModelProto, groups: dict[str, str], domain: str) -> Counter[str]:
    """Outline in place; ``groups`` maps module path -> function name. Returns calls per name."""
    return Outliner(model, domain).run(groups)


def count_ops(graph: onnx.GraphProto) -> Counter[str]:
    """Op types in a graph and all its subgraphs (``domain::Op`` for non-default domains)."""
    counts: Counter[str] = Counter()
    for node in graph.node:
        counts[f"{node.domain}::{node.op_type}" if node.domain else node.op_type] += 1
        for g in _subgraphs(node):
            counts.update(count_ops(g))
    return counts
