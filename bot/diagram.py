"""Flows drawn as Mermaid state diagrams (``bansou content graph FLOW``)."""
from __future__ import annotations


def mermaid(flow) -> str:
    """A Mermaid state diagram of a flow: states, choices, free text, signal and auto transitions, what each
    state understands in words (and where that leads), and what may interrupt it."""
    def node(target: str | None) -> str:
        if target in (None, "end"):
            return "[*]"
        if target.startswith("@"):
            return f"flow_{target[1:]}"
        return target.replace(":", "__")

    lines = ["stateDiagram-v2", f"    [*] --> {flow.start}"]
    for name, st in flow.states.items():
        for ch in st.choices:
            means = f" ({', '.join(ch.means)})" if ch.means and ch.means != (ch.id,) else ""
            lines.append(f"    {name} --> {node(ch.next)}: {ch.id}{means}")
        if st.text is not None:
            lines.append(f"    {name} --> {node(st.text.next)}: text")
        for kind, target in st.on_signal.items():
            lines.append(f"    {name} --> {node(target)}: signal {kind}")
        for what, target in st.understands.items():
            lines.append(f"    {name} --> {node(target)}: understands {what}")
        if st.choices or st.text is not None:
            allowed = st.interrupts if st.interrupts is not None else flow.interrupts
            lines.append(f"    note right of {name}: interrupts: {', '.join(allowed) or 'none'}")
        if st.next is not None and not st.choices and st.text is None:
            lines.append(f"    {name} --> {node(st.next)}")
        if not st.choices and st.text is None and st.next is None:
            lines.append(f"    {name} --> [*]")
    return "\n".join(lines)
