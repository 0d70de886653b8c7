//! The task list: add, filter, search, sort; tick, edit in place, delete with undo.
//! The last page loaded stays on screen while a new one loads, so typing in the search box or
//! ticking a box never blanks the list.

use super::{
    api::{self, ApiError},
    auth::{field, form_error},
    browser,
    state::AppState,
    time, typed_into,
};
use api_types::{NewTask, Priority, SortOrder, StatusFilter, Task, TaskPatch, TaskQuery, TaskSort};
use chrono::{DateTime, Utc};
use dioxus::prelude::*;

/// The API's largest page; "Show more" asks for another.
const PAGE_SIZE: u32 = 100;
/// How long a deleted task can be brought back before the DELETE is sent.
const UNDO_MILLIS: i32 = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortChoice {
    Newest,
    Oldest,
    DueSoonest,
    PriorityFirst,
    Title,
}

impl SortChoice {
    const ALL: [SortChoice; 5] =
        [SortChoice::Newest, SortChoice::Oldest, SortChoice::DueSoonest, SortChoice::PriorityFirst, SortChoice::Title];

    fn label(self) -> &'static str {
        match self {
            SortChoice::Newest => "Newest first",
            SortChoice::Oldest => "Oldest first",
            SortChoice::DueSoonest => "Due soonest",
            SortChoice::PriorityFirst => "Highest priority",
            SortChoice::Title => "Title A–Z",
        }
    }

    fn value(self) -> &'static str {
        match self {
            SortChoice::Newest => "newest",
            SortChoice::Oldest => "oldest",
            SortChoice::DueSoonest => "due",
            SortChoice::PriorityFirst => "priority",
            SortChoice::Title => "title",
        }
    }

    fn from_value(value: &str) -> Self {
        Self::ALL.into_iter().find(|choice| choice.value() == value).unwrap_or(SortChoice::Newest)
    }

    fn query(self) -> (TaskSort, SortOrder) {
        match self {
            SortChoice::Newest => (TaskSort::Created, SortOrder::Desc),
            SortChoice::Oldest => (TaskSort::Created, SortOrder::Asc),
            SortChoice::DueSoonest => (TaskSort::Due, SortOrder::Asc),
            SortChoice::PriorityFirst => (TaskSort::Priority, SortOrder::Desc),
            SortChoice::Title => (TaskSort::Title, SortOrder::Asc),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Toast {
    text: String,
    error: bool,
    /// The deleted task this toast can bring back.
    undo: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
struct PendingDelete {
    task: Task,
    token: u64,
}

/// "home, #work  errands" → ["home", "work", "errands"].
fn parse_tags(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .map(|tag| tag.trim().trim_start_matches('#').to_owned())
        .filter(|tag| !tag.is_empty())
        .collect()
}

/// A priority `<select>`'s value: one of `Priority::as_str`'s (`Priority`'s `FromStr` also
/// reads people's spellings, which a select never sends).
fn priority_from(value: &str) -> Priority {
    Priority::ALL.into_iter().find(|priority| priority.as_str() == value).unwrap_or_default()
}

#[component]
pub fn TaskPanel() -> Element {
    let app = use_context::<AppState>();
    let mut status = use_signal(|| StatusFilter::All);
    let mut search = use_signal(String::new);
    let mut tag = use_signal(|| None::<String>);
    // The select's value, read as a SortChoice where it is used: the select shares the text
    // fields' `oninput` closure type.
    let sort = use_signal(|| SortChoice::Newest.value().to_owned());
    let mut limit = use_signal(|| PAGE_SIZE);
    let mut reload = use_signal(|| 0_u64);
    // The last answer, kept while the next one loads; `None` until the first arrives.
    let mut tasks = use_signal(|| None::<Vec<Task>>);
    let mut total = use_signal(|| 0_i64);
    // False when the server stopped counting: `total` is then "at least".
    let mut total_exact = use_signal(|| true);
    let mut loading = use_signal(|| true);
    let mut load_error = use_signal(|| None::<String>);
    let mut toast = use_signal(|| None::<Toast>);
    let mut pending_delete = use_signal(|| None::<PendingDelete>);
    let mut next_token = use_signal(|| 0_u64);
    // The rows showing their edit form, with what is typed in it.
    let mut editing = use_signal(Vec::<EditForm>::new);

    let _loader = use_resource(move || {
        let (sort_by, order) = SortChoice::from_value(&sort()).query();
        let text = search().trim().to_owned();
        let query = TaskQuery {
            status: Some(status()),
            q: (!text.is_empty()).then_some(text),
            tag: tag(),
            sort: Some(sort_by),
            order: Some(order),
            limit: Some(limit()),
            ..TaskQuery::default()
        };
        // Subscriptions: a local change, or the assistant having changed tasks.
        let _ = (reload(), (app.tasks_changed)());
        super::boxed(async move {
            loading.set(true);
            if query.q.is_some() {
                // Typing restarts this resource, which drops the sleeping future: a debounce.
                browser::sleep(200).await;
            }
            let Some(credentials) = app.credentials() else { return };
            match api::list_tasks(&credentials, &query).await {
                Ok(page) => {
                    if tasks.peek().is_none() {
                        browser::mark("todo-chatbot:tasks-loaded");
                    }
                    // A row that left the list leaves its edit form behind, as a row of its
                    // own (a component) would have gone with its state.
                    if editing.peek().iter().any(|form| !page.items.iter().any(|task| task.id == form.id)) {
                        editing.write().retain(|form| page.items.iter().any(|task| task.id == form.id));
                    }
                    total.set(page.total);
                    total_exact.set(page.total_exact);
                    tasks.set(Some(page.items));
                    load_error.set(None);
                }
                Err(error) => load_error.set(Some(app.failed(&error))),
            }
            loading.set(false);
        })
    });

    let mut replace = move |task: Task| {
        if let Some(list) = tasks.write().as_mut()
            && let Some(slot) = list.iter_mut().find(|item| item.id == task.id)
        {
            *slot = task;
        }
    };

    let toggle = move |(id, completed): (i64, bool)| {
        let Some(credentials) = app.credentials() else { return };
        let mut previous = None;
        if let Some(list) = tasks.write().as_mut()
            && let Some(task) = list.iter_mut().find(|task| task.id == id)
        {
            previous = Some(task.clone());
            task.completed = completed;
        }
        spawn(async move {
            match api::set_completed(&credentials, id, completed).await {
                Ok(task) => replace(task),
                Err(error) => {
                    let message = app.failed(&error);
                    if let Some(before) = previous {
                        let verb = if completed { "mark" } else { "reopen" };
                        let done = if completed { " as done" } else { "" };
                        toast.set(Some(Toast {
                            text: format!("Could not {verb} “{}”{done}: {message}", before.title),
                            error: true,
                            undo: None,
                        }));
                        replace(before);
                    }
                }
            }
        });
    };

    let mut commit_delete = move |pending: PendingDelete| {
        let Some(credentials) = app.credentials() else { return };
        if let Some(list) = tasks.write().as_mut() {
            list.retain(|task| task.id != pending.task.id);
        }
        total -= 1;
        spawn(async move {
            if let Err(error) = api::delete_task(&credentials, pending.task.id).await {
                let message = app.failed(&error);
                toast.set(Some(Toast {
                    text: format!("Could not delete “{}”: {message}", pending.task.title),
                    error: true,
                    undo: None,
                }));
                reload += 1;
            }
        });
    };

    let delete = move |task: Task| {
        // One undo at a time: an earlier deletion is final once another starts.
        if let Some(earlier) = pending_delete.take() {
            commit_delete(earlier);
        }
        let token = next_token() + 1;
        next_token.set(token);
        toast.set(Some(Toast { text: format!("Deleted “{}”.", task.title), error: false, undo: Some(token) }));
        pending_delete.set(Some(PendingDelete { task, token }));
        spawn(async move {
            browser::sleep(UNDO_MILLIS).await;
            if pending_delete.peek().as_ref().is_some_and(|pending| pending.token == token)
                && let Some(pending) = pending_delete.take()
            {
                commit_delete(pending);
                if toast.peek().as_ref().is_some_and(|toast| toast.undo == Some(token)) {
                    toast.set(None);
                }
            }
        });
    };

    let undo = move |_| {
        pending_delete.set(None);
        toast.set(None);
    };

    let now = time::now();
    let hidden = pending_delete.read().as_ref().map(|pending| pending.task.id);
    let visible: Option<Vec<Task>> =
        tasks.read().as_ref().map(|list| list.iter().filter(|task| Some(task.id) != hidden).cloned().collect());
    let filtered = status() != StatusFilter::All || !search().trim().is_empty() || tag().is_some();
    let overdue = visible.as_ref().map(|list| list.iter().filter(|task| task.is_overdue(now)).count()).unwrap_or(0);
    let shown_total = total() - i64::from(hidden.is_some());
    let plus = if total_exact() { "" } else { "+" };
    let noun = if shown_total == 1 { "task" } else { "tasks" };

    rsx! {
        section { class: "panel tasks-panel", aria_labelledby: "tasks-heading",
            div { class: "panel-head",
                h2 { id: "tasks-heading", "Tasks" }
                p { class: "count", aria_live: "polite",
                    if visible.is_some() {
                        "{shown_total}{plus} {noun}"
                        if overdue > 0 { span { class: "overdue-count", " · {overdue} overdue" } }
                    }
                    if loading() && visible.is_some() { span { class: "refreshing", " · updating…" } }
                }
            }
            NewTaskForm {}
            div { class: "filters", role: "group", aria_label: "Filter and sort",
                fieldset { class: "segmented",
                    legend { class: "visually-hidden", "Show" }
                    for (value, label) in [(StatusFilter::All, "All"), (StatusFilter::Pending, "Pending"), (StatusFilter::Completed, "Done")] {
                        label { class: if status() == value { "segment selected" } else { "segment" },
                            input {
                                r#type: "radio", name: "status", checked: status() == value,
                                onchange: move |_| status.set(value),
                            }
                            "{label}"
                        }
                    }
                }
                div { class: "search",
                    label { r#for: "task-search", class: "visually-hidden", "Search tasks" }
                    input {
                        id: "task-search", r#type: "search", placeholder: "Search tasks…",
                        value: "{search}", oninput: typed_into(search),
                    }
                }
                if let Some(current) = tag() {
                    span { class: "tag-filter",
                        "Tagged #{current}"
                        button {
                            r#type: "button", class: "icon", aria_label: "Stop filtering by #{current}",
                            onclick: move |_| tag.set(None),
                            "×"
                        }
                    }
                }
                div { class: "sort",
                    label { r#for: "task-sort", "Sort" }
                    select {
                        id: "task-sort",
                        onchange: typed_into(sort),
                        for choice in SortChoice::ALL {
                            option { value: choice.value(), selected: *sort.read() == choice.value(), "{choice.label()}" }
                        }
                    }
                }
            }
            if let Some(message) = load_error() {
                div { class: "banner error", role: "alert",
                    span { "Your tasks could not be loaded. {message}" }
                    button { r#type: "button", class: "secondary", onclick: move |_| reload += 1, "Try again" }
                }
            }
            match visible {
                None if load_error().is_none() => rsx! {
                    ul { class: "task-list skeleton", aria_busy: "true", aria_label: "Loading tasks",
                        for i in 0..3 { li { key: "{i}", class: "task placeholder" } }
                    }
                },
                None => rsx! {},
                Some(list) if list.is_empty() && filtered => rsx! {
                    div { class: "empty",
                        p { "No tasks match these filters." }
                        button {
                            r#type: "button", class: "secondary",
                            onclick: move |_| {
                                status.set(StatusFilter::All);
                                search.set(String::new());
                                tag.set(None);
                            },
                            "Clear filters"
                        }
                    }
                },
                Some(list) if list.is_empty() => rsx! {
                    div { class: "empty",
                        p { class: "empty-title", "Nothing to do yet." }
                        p { "Add a task above, or ask the assistant: “add task pay bills tomorrow high priority #home”." }
                    }
                },
                Some(list) => rsx! {
                    ul { class: "task-list", aria_label: "Tasks",
                        for task in list {
                            li { key: "{task.id}", class: row_class(&task, now, editing), "data-task-id": "{task.id}",
                                {task_row(&task, now, editing, toggle, delete, replace, tag, app)}
                            }
                        }
                    }
                    if (tasks.read().as_ref().map_or(0, Vec::len) as i64) < total() {
                        button { r#type: "button", class: "secondary more", onclick: move |_| limit += PAGE_SIZE,
                            "Show more"
                        }
                    }
                },
            }
            div { class: "toast-area", role: "status", aria_live: "polite",
                if let Some(current) = toast() {
                    div { class: if current.error { "toast error" } else { "toast" },
                        span { "{current.text}" }
                        if current.undo.is_some() {
                            button { r#type: "button", class: "link", onclick: undo, "Undo" }
                        }
                        button { r#type: "button", class: "icon", aria_label: "Dismiss", onclick: move |_| toast.set(None), "×" }
                    }
                }
            }
        }
    }
}

/// The add form. A component for its own state, without props (a props type, its builder and
/// an event handler cost more than the markup): a new task reloads the list through
/// `AppState::tasks_changed`, as the assistant's changes do.
#[component]
fn NewTaskForm() -> Element {
    let app = use_context::<AppState>();
    let mut title = use_signal(String::new);
    // The select's value (see `sort` in TaskPanel).
    let mut priority = use_signal(|| Priority::Medium.as_str().to_owned());
    let mut tags = use_signal(String::new);
    let mut due = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<ApiError>);
    let mut due_error = use_signal(|| None::<String>);
    let mut more = use_signal(|| false);

    let submit = move |event: FormEvent| {
        event.prevent_default();
        if busy() {
            return;
        }
        let due_at = match time::parse_date_input(&due()) {
            Ok(due_at) => due_at,
            Err(message) => {
                due_error.set(Some(message));
                return;
            }
        };
        due_error.set(None);
        let tag_list = parse_tags(&tags());
        let task = NewTask {
            title: title().trim().to_owned(),
            priority: Some(priority_from(&priority())),
            tags: (!tag_list.is_empty()).then_some(tag_list),
            due_at,
            ..NewTask::default()
        };
        let Some(credentials) = app.credentials() else { return };
        spawn(async move {
            busy.set(true);
            match api::create_task(&credentials, &task).await {
                Ok(_) => {
                    error.set(None);
                    title.set(String::new());
                    tags.set(String::new());
                    due.set(String::new());
                    priority.set(Priority::Medium.as_str().to_owned());
                    app.tasks_changed_elsewhere();
                    browser::focus("new-task-title");
                }
                Err(failure) => {
                    app.failed(&failure);
                    error.set(Some(failure));
                }
            }
            busy.set(false);
        });
    };

    let failure = error();
    rsx! {
        form { class: "new-task", novalidate: true, onsubmit: submit, aria_label: "Add a task",
            {form_error(failure.clone().filter(|failure| !["title", "tags", "due_at", "priority"].iter().any(|f| failure.field(f).is_some())))}
            div { class: "new-task-main",
                {field("new-task-title", "New task", None, failure.as_ref().and_then(|e| e.field("title")), "grow", rsx! {
                    input {
                        id: "new-task-title", r#type: "text", placeholder: "What needs doing?", maxlength: "200",
                        required: true, value: "{title}", oninput: typed_into(title),
                    }
                })}
                button { r#type: "submit", class: "primary", disabled: busy() || title().trim().is_empty(),
                    {if busy() { "Adding…" } else { "Add task" }}
                }
            }
            button {
                r#type: "button", class: "link details-toggle", aria_expanded: "{more}", aria_controls: "new-task-details",
                onclick: move |_| more.toggle(),
                {if more() { "Fewer details" } else { "Priority, tags, due date…" }}
            }
            div { id: "new-task-details", class: "new-task-details", hidden: !more(),
                {field("new-task-priority", "Priority", None, failure.as_ref().and_then(|e| e.field("priority")), "", rsx! {
                    select { id: "new-task-priority", onchange: typed_into(priority),
                        for option_priority in Priority::ALL {
                            option { value: option_priority.as_str(), selected: *priority.read() == option_priority.as_str(), "{capitalised(option_priority)}" }
                        }
                    }
                })}
                {field("new-task-tags", "Tags", Some("Separate with commas or spaces."), failure.as_ref().and_then(|e| e.field("tags")), "", rsx! {
                    input { id: "new-task-tags", r#type: "text", placeholder: "home, errands", value: "{tags}", oninput: typed_into(tags) }
                })}
                {field("new-task-due", "Due date", None, due_error().or_else(|| failure.as_ref().and_then(|e| e.field("due_at"))), "", rsx! {
                    input { id: "new-task-due", r#type: "date", value: "{due}", oninput: typed_into(due) }
                })}
            }
        }
    }
}

fn capitalised(priority: Priority) -> &'static str {
    match priority {
        Priority::Low => "Low",
        Priority::Medium => "Medium",
        Priority::High => "High",
    }
}

/// The class of a task's row.
fn row_class(task: &Task, now: DateTime<Utc>, editing: Signal<Vec<EditForm>>) -> String {
    if editing.read().iter().any(|form| form.id == task.id) {
        return "task editing".to_owned();
    }
    let overdue = task.is_overdue(now);
    format!("task{}{}", if task.completed { " done" } else { "" }, if overdue { " overdue" } else { "" })
}

/// A row's edit form: what is typed in it and how saving went. Kept by the panel, as the rows
/// are its markup: a component per form would bring a props type, its builder and memoize, and
/// an event handler.
#[derive(Debug, Clone)]
struct EditForm {
    id: i64,
    title: String,
    /// The select's value.
    priority: String,
    tags: String,
    due: String,
    busy: bool,
    error: Option<ApiError>,
    due_error: Option<String>,
}

impl EditForm {
    fn of(task: &Task) -> Self {
        Self {
            id: task.id,
            title: task.title.clone(),
            priority: task.priority.as_str().to_owned(),
            tags: task.tags.join(", "),
            due: time::date_input_value(task.due_at),
            busy: false,
            error: None,
            due_error: None,
        }
    }
}

/// Changes the edit form of task `id`, if it is still open.
fn edit(mut editing: Signal<Vec<EditForm>>, id: i64, change: impl FnOnce(&mut EditForm)) {
    if let Some(form) = editing.write().iter_mut().find(|form| form.id == id) {
        change(form);
    }
}

/// The `oninput` of an edit form's text field, and its priority select's `onchange` (one closure
/// type for the four).
fn typed_into_edit(
    editing: Signal<Vec<EditForm>>,
    id: i64,
    text: fn(&mut EditForm) -> &mut String,
) -> impl FnMut(FormEvent) + 'static {
    move |event| edit(editing, id, |form| *text(form) = event.value())
}

/// What a task's row holds: the task, or its edit form. A function of the panel rather than a
/// component (see `auth::field`): the rows being edited are the panel's state, `editing`.
#[allow(clippy::too_many_arguments)]
fn task_row(
    task: &Task,
    now: DateTime<Utc>,
    mut editing: Signal<Vec<EditForm>>,
    mut on_toggle: impl FnMut((i64, bool)) + Copy + 'static,
    mut on_delete: impl FnMut(Task) + Copy + 'static,
    on_saved: impl FnMut(Task) + Copy + 'static,
    mut tag: Signal<Option<String>>,
    app: AppState,
) -> Element {
    let id = task.id;
    let form = editing.read().iter().find(|form| form.id == id).cloned();
    if let Some(form) = form {
        return edit_form(form, editing, on_saved, app);
    }

    let overdue = task.is_overdue(now);
    let checkbox_label = if task.completed {
        format!("Mark “{}” as not done", task.title)
    } else {
        format!("Mark “{}” as done", task.title)
    };
    let completed = task.completed;
    let deleted = task.clone();
    // What the edit form opens with, read when it opens.
    let (opened, opened_too) = (task.clone(), task.clone());
    rsx! {
        input {
            id: "task-{id}-done", class: "task-toggle", r#type: "checkbox", checked: completed,
            aria_label: "{checkbox_label}",
            onchange: move |e| on_toggle((id, e.checked())),
        }
        div { class: "task-main",
            span { class: "task-title", ondoubleclick: move |_| editing.write().push(EditForm::of(&opened)), "{task.title}" }
            if let Some(description) = task.description.as_ref().filter(|d| !d.is_empty()) {
                p { class: "task-description", "{description}" }
            }
            div { class: "task-meta",
                span { class: "badge priority-{task.priority}", title: "Priority", "{capitalised(task.priority)}" }
                if let Some(due) = task.due_at {
                    span { class: if overdue { "due overdue" } else { "due" }, title: "{time::full(due)}",
                        {format!("{} {}", if overdue { "Overdue ·" } else { "Due" }, time::due_label(due))}
                    }
                }
                for name in task.tags.iter().cloned() {
                    button {
                        key: "{name}", r#type: "button", class: "tag", title: "Show only tasks tagged #{name}",
                        onclick: move |_| tag.set(Some(name.clone())),
                        "#{name}"
                    }
                }
                span { class: "task-id", "#{id}" }
            }
        }
        div { class: "task-actions",
            button {
                id: "edit-{id}", r#type: "button", class: "icon-text", aria_label: "Edit “{task.title}”",
                onclick: move |_| {
                    editing.write().push(EditForm::of(&opened_too));
                    spawn(async move {
                        browser::sleep(0).await;
                        browser::focus(&format!("edit-{id}-title"));
                    });
                },
                "Edit"
            }
            button {
                r#type: "button", class: "icon-text danger", aria_label: "Delete “{task.title}”",
                onclick: move |_| on_delete(deleted.clone()),
                "Delete"
            }
        }
    }
}

/// A task's row while it is edited.
fn edit_form(
    form: EditForm,
    mut editing: Signal<Vec<EditForm>>,
    mut on_saved: impl FnMut(Task) + Copy + 'static,
    app: AppState,
) -> Element {
    let id = form.id;
    let mut done = move |saved: Option<Task>| {
        editing.write().retain(|form| form.id != id);
        if let Some(saved) = saved {
            on_saved(saved);
        }
        spawn(async move {
            browser::sleep(0).await;
            browser::focus(&format!("edit-{id}"));
        });
    };

    let submit = move |event: FormEvent| {
        event.prevent_default();
        let Some(form) = editing.peek().iter().find(|form| form.id == id).cloned() else { return };
        if form.busy {
            return;
        }
        let due_at = match time::parse_date_input(&form.due) {
            Ok(due_at) => due_at,
            Err(message) => {
                edit(editing, id, |form| form.due_error = Some(message));
                return;
            }
        };
        let patch = TaskPatch {
            title: Some(form.title.trim().to_owned()),
            priority: Some(priority_from(&form.priority)),
            tags: Some(parse_tags(&form.tags)),
            due_at: Some(due_at),
            ..TaskPatch::default()
        };
        let Some(credentials) = app.credentials() else { return };
        spawn(async move {
            edit(editing, id, |form| form.busy = true);
            match api::update_task(&credentials, id, &patch).await {
                Ok(saved) => done(Some(saved)),
                Err(failure) => {
                    app.failed(&failure);
                    edit(editing, id, |form| {
                        form.error = Some(failure);
                        form.busy = false;
                    });
                }
            }
        });
    };

    let failure = form.error;
    let busy = form.busy;
    rsx! {
        form {
            class: "edit-task", novalidate: true, onsubmit: submit, aria_label: "Edit task {id}",
            onkeydown: move |e| if e.key() == Key::Escape { done(None) },
            {form_error(failure.clone().filter(|failure| failure.field("title").is_none() && failure.field("tags").is_none()))}
            {field(&format!("edit-{id}-title"), "Title", None, failure.as_ref().and_then(|e| e.field("title")), "grow", rsx! {
                input { id: "edit-{id}-title", r#type: "text", maxlength: "200", value: "{form.title}", oninput: typed_into_edit(editing, id, |form| &mut form.title) }
            })}
            div { class: "edit-row",
                {field(&format!("edit-{id}-priority"), "Priority", None, None, "", rsx! {
                    select { id: "edit-{id}-priority", onchange: typed_into_edit(editing, id, |form| &mut form.priority),
                        for option_priority in Priority::ALL {
                            option { value: option_priority.as_str(), selected: form.priority == option_priority.as_str(), "{capitalised(option_priority)}" }
                        }
                    }
                })}
                {field(&format!("edit-{id}-tags"), "Tags", None, failure.as_ref().and_then(|e| e.field("tags")), "", rsx! {
                    input { id: "edit-{id}-tags", r#type: "text", value: "{form.tags}", oninput: typed_into_edit(editing, id, |form| &mut form.tags) }
                })}
                {field(&format!("edit-{id}-due"), "Due date", None, form.due_error, "", rsx! {
                    input { id: "edit-{id}-due", r#type: "date", value: "{form.due}", oninput: typed_into_edit(editing, id, |form| &mut form.due) }
                })}
            }
            div { class: "edit-actions",
                button { r#type: "submit", class: "primary", disabled: busy, if busy { "Saving…" } else { "Save" } }
                button { r#type: "button", class: "secondary", onclick: move |_| done(None), "Cancel" }
                small { class: "hint", "Esc cancels" }
            }
        }
    }
}
