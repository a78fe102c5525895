"""``report.html``: one self-contained page a person can browse (no server, no network).

Tabs (chosen by the URL's ``#fragment``): Summary, Per class, Curves, Gallery, Sanity. Tables
sort by a click on a column head and filter by text; the gallery filters by class, best/worst
and text, and sorts by any score. Figures are inline ``data:`` URIs; gallery thumbnails are
JPEG files beside the page, loaded lazily, so a gallery of thousands of pairs opens at once.
Everything the page shows is escaped; the inline script and style are the only code.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

TABS = (("summary", "Summary"), ("classes", "Per class"), ("curves", "Curves"),
        ("gallery", "Gallery"), ("sanity", "Sanity"))


@dataclass(frozen=True)
class Table:
    """columns: heads; rows: cells (str, number, or None for an empty cell); caption."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str | float | int | None]]
    caption: str = ""
    filterable: bool = True


@dataclass(frozen=True)
class Card:
    """One gallery pair: its thumbnail strip (a path relative to the page) and its scores."""

    src: str
    width: int
    height: int
    image_id: str
    class_name: str
    tag: str  # best | worst
    iou_best: float
    iou_protocol: float
    seed_iou: float | None


@dataclass
class Page:
    """What the report shows; each part may be empty (its tab then says why)."""

    title: str
    subtitle: str = ""
    summary: list[Table] = field(default_factory=list)  # headline, faithfulness, all metrics
    per_class: Table | None = None
    figures: list[tuple[str, bytes]] = field(default_factory=list)  # curves tab: (caption, png)
    cards: list[Card] = field(default_factory=list)
    gallery_note: str = ""
    sanity_text: str = ""
    sanity_figure: bytes | None = None
    sanity_table: Table | None = None
    notes: dict[str, str] = field(default_factory=dict)  # tab id -> why it is empty


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _cell(value: str | float | int | None) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return '<td data-v=""></td>'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        return f'<td class="num" data-v="{value!r}">{shown}</td>'
    return f"<td>{escape(str(value))}</td>"


def render_table(table: Table, table_id: str) -> str:
    """A sortable table (and a filter box when ``filterable``)."""
    parts = []
    if table.filterable:
        parts.append(f'<input class="tfilter" data-table="{table_id}" type="search" '
                     f'placeholder="filter rows">')
    parts.append(f'<table class="sortable" id="{table_id}">')
    if table.caption:
        parts.append(f"<caption>{escape(table.caption)}</caption>")
    parts.append("<thead><tr>" + "".join(f"<th>{escape(c)}</th>" for c in table.columns)
                 + "</tr></thead><tbody>")
    parts += ["<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows]
    parts.append("</tbody></table>")
    return "\n".join(parts)


def _card(card: Card) -> str:
    seed = "" if card.seed_iou is None else f"{card.seed_iou:.1f}"
    seed_shown = f" · seed IoU {seed}" if seed else ""
    return (f'<figure class="card" data-class="{escape(card.class_name)}" data-tag="{card.tag}" '
            f'data-id="{escape(card.image_id)}" data-iou="{card.iou_best}" '
            f'data-protocol="{card.iou_protocol}" data-seed="{seed}">'
            f'<img src="{escape(card.src)}" width="{card.width}" height="{card.height}" '
            f'loading="lazy" decoding="async" alt="{escape(card.image_id)} '
            f'{escape(card.class_name)}"><figcaption><b>{escape(card.class_name)}</b> '
            f'{escape(card.image_id)} <span class="tag {card.tag}">{card.tag}</span><br>'
            f"IoU at best τ {card.iou_best:.1f} · protocol {card.iou_protocol:.1f}{seed_shown}"
            "</figcaption></figure>")


def _gallery(page: Page) -> str:
    if not page.cards:
        return f'<p class="note">{escape(page.notes.get("gallery", "No gallery."))}</p>'
    classes = sorted({c.class_name for c in page.cards})
    options = "".join(f'<option value="{escape(c)}">{escape(c)}</option>' for c in classes)
    return (f'<p class="note">{escape(page.gallery_note)}</p>'
            '<div class="controls"><label>class <select id="g-class"><option value="">all'
            f'</option>{options}</select></label> <label>show <select id="g-tag">'
            '<option value="">best and worst</option><option value="best">best</option>'
            '<option value="worst">worst</option></select></label> <label>sort <select '
            'id="g-sort"><option value="">class, best first</option><option value="iou">IoU '
            'at best τ ↑</option><option value="-iou">IoU at best τ ↓</option><option '
            'value="protocol">protocol IoU ↑</option><option value="seed">seed IoU ↑</option>'
            '<option value="id">image id</option></select></label> <input id="g-text" '
            'type="search" placeholder="image id"> <span id="g-count"></span></div>'
            '<div id="cards">' + "".join(_card(c) for c in page.cards) + "</div>")


def _section(tab: str, body: str, page: Page) -> str:
    if not body:
        body = f'<p class="note">{escape(page.notes.get(tab, "Nothing to show."))}</p>'
    # id "tab-<name>", not "<name>": the browser must not scroll to the fragment's element
    return f'<section class="tab" id="tab-{tab}" data-tab="{tab}">{body}</section>'


def render_page(page: Page) -> str:
    """The whole HTML document of ``page``."""
    summary = "".join(render_table(t, f"t-summary{i}") for i, t in enumerate(page.summary))
    classes = render_table(page.per_class, "t-classes") if page.per_class else ""
    curves = "".join(f'<figure><img src="{png_uri(png)}" alt="{escape(caption)}">'
                     f"<figcaption>{escape(caption)}</figcaption></figure>"
                     for caption, png in page.figures)
    sanity = ""
    if page.sanity_figure is not None or page.sanity_table is not None:
        sanity = f'<p class="note">{escape(page.sanity_text)}</p>'
        if page.sanity_figure is not None:
            sanity += f'<img class="wide" src="{png_uri(page.sanity_figure)}" alt="sanity">'
        if page.sanity_table is not None:
            sanity += render_table(page.sanity_table, "t-sanity")
    bodies = {"summary": summary, "classes": classes, "curves": curves,
              "gallery": _gallery(page), "sanity": sanity}
    nav = "".join(f'<a href="#{tab}">{label}</a>' for tab, label in TABS)
    sections = "".join(_section(tab, bodies[tab], page) for tab, _ in TABS)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{escape(page.title)}</title>'
            f"<style>{STYLE}</style></head><body><header><h1>{escape(page.title)}</h1>"
            f'<p class="sub">{escape(page.subtitle)}</p><nav id="tabs">{nav}</nav></header>'
            f"<main>{sections}</main><script>{SCRIPT}</script></body></html>\n")


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#fff;border-bottom:1px solid #ddd;padding:8px 16px}
h1{font-size:18px;margin:0}.sub{color:#666;margin:2px 0 6px;font-size:12px}
nav a{margin-right:14px;text-decoration:none;color:#246;padding:2px 0}
nav a.on{border-bottom:2px solid #246;font-weight:600}main{padding:12px 16px}
table{border-collapse:collapse;margin:8px 0 18px;background:#fff}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #ddd;padding:3px 8px}
th{cursor:pointer;background:#f0f0f0;user-select:none}th[data-dir=asc]:after{content:" ▲"}
th[data-dir=desc]:after{content:" ▼"}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#555;max-width:70em}.controls{margin:8px 0;padding:4px 0}
#cards{display:flex;flex-wrap:wrap;gap:10px}
.card{margin:0;background:#fff;border:1px solid #ddd;padding:4px;width:min-content;flex:none}
.card img{display:block;max-width:none}
.card figcaption{font-size:11px;color:#444;margin-top:3px}.tag{padding:0 4px;border-radius:3px}
.tag.best{background:#d9f2d9}.tag.worst{background:#f7d6d6}img.wide{max-width:100%}
figure img{max-width:100%}
"""

SCRIPT = """
(function(){
function show(){var id=(location.hash||'#summary').slice(1);
if(!document.getElementById('tab-'+id))id='summary';
document.querySelectorAll('section.tab').forEach(function(s){s.hidden=s.id!=='tab-'+id;});
document.querySelectorAll('#tabs a').forEach(function(a){
a.classList.toggle('on',a.getAttribute('href')==='#'+id);});}
window.addEventListener('hashchange',show);show();
function key(cell){var v=cell.getAttribute('data-v');
if(v===null)return cell.textContent.toLowerCase();return v===''?-Infinity:parseFloat(v);}
document.querySelectorAll('table.sortable th').forEach(function(th,i){
th.addEventListener('click',function(){var body=th.closest('table').tBodies[0];
var dir=th.getAttribute('data-dir')==='asc'?'desc':'asc';
th.parentNode.querySelectorAll('th').forEach(function(h){h.removeAttribute('data-dir');});
th.setAttribute('data-dir',dir);var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
var c=x<y?-1:x>y?1:0;return dir==='asc'?c:-c;});
rows.forEach(function(r){body.appendChild(r);});});});
document.querySelectorAll('input.tfilter').forEach(function(box){
box.addEventListener('input',function(){var q=box.value.toLowerCase();
var t=document.getElementById(box.getAttribute('data-table'));
Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
r.hidden=q&&r.textContent.toLowerCase().indexOf(q)<0;});});});
var cards=document.getElementById('cards');if(!cards)return;
var all=Array.prototype.slice.call(cards.children);
var ctl=['g-class','g-tag','g-sort','g-text'].map(function(i){return document.getElementById(i);});
function num(c,k){var v=c.getAttribute('data-'+k);return v===''?-1:parseFloat(v);}
function update(){var cls=ctl[0].value,tag=ctl[1].value,sort=ctl[2].value,
text=ctl[3].value.toLowerCase(),list=all.slice(),shown=0;
if(sort==='iou'||sort==='-iou'){var s=sort==='iou'?1:-1;
list.sort(function(a,b){return s*(num(a,'iou')-num(b,'iou'));});}
else if(sort==='protocol'||sort==='seed'){
list.sort(function(a,b){return num(a,sort)-num(b,sort);});}
else if(sort==='id'){list.sort(function(a,b){
return a.getAttribute('data-id')<b.getAttribute('data-id')?-1:1;});}
list.forEach(function(c){var ok=(!cls||c.getAttribute('data-class')===cls)&&
(!tag||c.getAttribute('data-tag')===tag)&&
(!text||c.getAttribute('data-id').toLowerCase().indexOf(text)>=0);
c.hidden=!ok;if(ok)shown++;cards.appendChild(c);});
document.getElementById('g-count').textContent=shown+' of '+all.length+' pairs';}
ctl.forEach(function(c){c.addEventListener('input',update);});update();
})();
"""
