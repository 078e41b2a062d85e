"""Screens are built on first use (issue 13, the touch app's memory and start-up): the app starts
with Today, and a screen first opened later shows what its model holds, in the language chosen
meanwhile."""

from __future__ import annotations

from ui.scenes import settle

from .conftest import find, tap, texts


async def test_only_today_is_built_at_start_and_history_opened_later_shows_its_values(run_app):
    async def work(app):
        await settle(app)
        built = {s.name for s in app.root.screens}
        assert "today" in built
        assert not built & {"measure", "manual", "history", "forms", "form-question", "form-review", "form-done"}
        # The language changes before History was ever opened: History is built in it, with the values.
        await tap(find(app.root, action="go-settings"), app)
        await tap(find(app.root, action="language-en"), app)
        await tap(find(app.root, action="go-history"), app)
        await settle(app)
        assert app.root.current == "history"
        shown = texts(app.root)
        assert "History" in shown and "Historikk" not in shown
        history = app.root.get_screen("history")
        assert history.model.rows and history.ids.rows.children  # the example hub's values listed
        assert app.root.get_screen("history") is history  # built once
        await tap(find(app.root, action="go-today"), app)
        assert app.root.current == "today"

    await run_app(work)


async def test_the_forms_list_opened_first_time_shows_the_forms(run_app):
    async def work(app):
        await settle(app)
        assert "forms" not in {s.name for s in app.root.screens}
        app.open_forms()
        await settle(app)
        assert app.root.current == "forms"
        screen = app.root.get_screen("forms")
        assert app.form_model.forms and len(screen.ids.forms.children) == len(app.form_model.forms)

    await run_app(work)


async def test_technician_mode_and_settings_are_not_built_until_opened(run_app):
    async def work(app):
        await settle(app)
        built = {s.name for s in app.root.screens}
        assert not built & {"settings", "technician-pin", "technician", "technician-return", "enrol", "technician-pairing"}
        # Settings opened later still has its title watched for the technician's long press.
        await tap(find(app.root, action="go-settings"), app)
        assert app.root.current == "settings"
        assert getattr(app, "_technician_press", None) is not None
        app.open_technician_door()
        await settle(app)
        assert app.root.current == "technician-pin" and find(app.root, action="pin-ok")

    await run_app(work)


async def test_a_screen_left_is_let_go_and_shown_again_from_its_model(run_app):
    """History and Settings are dropped once left (their widgets, textures and GL buffers freed,
    not merely hidden), and made again as they were when next opened: the values listed, the
    language chosen, the technician's long press on Settings' title."""
    import gc
    import weakref

    from ui.scenes import next_frame

    async def work(app):
        await settle(app)
        await tap(find(app.root, action="go-history"), app)
        history = weakref.ref(app.root.built("history"))
        rows = len(app.root.built("history").ids.rows.children)
        assert rows
        await tap(find(app.root, action="go-today"), app)
        await settle(app)
        await next_frame(2)
        assert app.root.built("history") is None
        gc.collect()  # (the tap that left it held its button until now; the app collected already)
        assert history() is None, "History's widgets still held after it was left"
        await tap(find(app.root, action="go-settings"), app)
        await tap(find(app.root, action="language-en"), app)
        first_press = app._technician_press()
        await tap(find(app.root, action="go-history"), app)
        await settle(app)
        assert app.root.built("settings") is None
        shown = texts(app.root)
        assert "History" in shown and "Historikk" not in shown
        assert len(app.root.built("history").ids.rows.children) == rows
        await tap(find(app.root, action="go-today"), app)
        await tap(find(app.root, action="go-settings"), app)
        press = app._technician_press()
        assert press is not None and press is not first_press  # watched on the Settings made again
        assert press.widget in list(app.root.built("settings").walk(restrict=True))
        assert "English" in texts(app.root) and app.session.language == "en"

    await run_app(work)


async def test_the_measuring_screen_is_kept_while_a_measurement_is_under_way(run_app):
    """A screen doing work is never dropped: a call or a reminder may take the screen while the
    cuff is measuring; the measurement and its screen are there when the patient comes back."""
    from ui.scenes import next_frame

    async def work(app):
        await settle(app)
        app.measure("blood-pressure")
        app.measure_model.as_if_measuring()
        await settle(app)
        measuring = app.root.built("measure")
        app.root.current = "history"  # taken away without cancelling (as a call's ringing does)
        await settle(app)
        await next_frame(2)
        assert app.root.built("measure") is measuring and app.measure_model.measuring
        app.root.current = "measure"
        await settle(app)
        app.measure_model.cancel()
        app.go("today")
        await settle(app)
        await next_frame(2)
        assert app.root.built("measure") is None  # done: let go like the others

    await run_app(work)


async def test_a_screen_left_while_its_list_still_fades_its_bar_is_let_go(run_app):
    """A scroll view fades its bar for a second after its content last moved (a Clock trigger,
    then an Animation, each holding the scroll view): History left within that second was kept
    alive with all its widgets — the flaky test above, 1 run in 6. It is let go at once."""
    import gc
    import weakref

    from kivy.animation import Animation

    from ui.scenes import next_frame

    async def work(app):
        await settle(app)
        await tap(find(app.root, action="go-history"), app)
        screen = app.root.built("history")
        scroller = screen.ids.scroller
        scroller.update_from_scroll()  # the list just moved: its bar's fade is due in 0.5 s
        Animation(_bar_color=scroller.bar_inactive_color, d=30).start(scroller)  # and one fading
        history = weakref.ref(screen)
        del screen, scroller
        await tap(find(app.root, action="go-today"), app)
        await settle(app)
        await next_frame(2)
        assert app.root.built("history") is None
        gc.collect()
        assert history() is None, "History held by its scroll bar's fade after it was left"

    await run_app(work)


async def test_history_left_for_settings_is_let_go_before_settings_is_made(run_app):
    """The patient taps Settings on History's navigation bar, Settings not made yet: History's
    chart and rows are gone before Settings is made, not after it. Made side by side, the two
    screens' objects took fresh memory that was not given back once History went (the touch app
    ended its walk ~3 MB higher). History itself — held by the tap being handled — goes once the
    tap is over, without anyone collecting for it."""
    import weakref

    from ui.scenes import next_frame

    async def work(app):
        await settle(app)
        await tap(find(app.root, action="go-history"), app)
        history = app.root.built("history")
        chart = next(w for w in history.walk(restrict=True) if type(w).__name__ == "HistoryChart")
        chart, row, screen = (weakref.ref(w) for w in (chart, history.ids.rows.children[0], history))
        del history
        alive_when_made = []
        make = app.root._factories["settings"]

        def settings_made_now():
            alive_when_made.extend(name for name, ref in (("chart", chart), ("row", row)) if ref() is not None)
            return make()

        app.root.register("settings", settings_made_now)
        await tap(find(app.root, action="go-settings"), app)
        assert app.root.current == "settings" and find(app.root, action="language-en")
        assert alive_when_made == [], f"History's {alive_when_made} still alive when Settings was made"
        await next_frame(2)
        assert screen() is None, "History still held after the tap that left it"

    await run_app(work)


async def test_the_measuring_screen_makes_each_panel_when_it_is_first_shown(run_app):
    """The guide, waiting, result and problem panels were all made for the one shown (~1 MB)."""
    from ui.models.measuring import Phase, SessionOver

    async def work(app):
        await settle(app)
        await tap(find(app.root, action="go-settings"), app)
        await tap(find(app.root, action="language-en"), app)
        app.measure("blood-pressure")
        await settle(app)
        panels = app.root.get_screen("measure").ids.panels
        assert {s.name for s in panels.screens} == {"guide"}
        assert find(app.root, action="start") and "Start measuring" in texts(app.root)
        app.measure_model.as_if_measuring()
        await settle(app)
        assert {s.name for s in panels.screens} == {"guide", "waiting"}
        assert panels.current == "waiting" and find(app.root, action="stop")
        # A panel first shown later shows the model's state, with its buttons working.
        app.measure_model.step(SessionOver(Phase.NO_DEVICE))
        await settle(app)
        assert {s.name for s in panels.screens} == {"guide", "waiting", "problem"}
        assert "No device answered" in texts(app.root)
        await tap(find(app.root, action="try-again"), app)
        await settle(app)
        assert panels.current == "waiting" and app.measure_model.state == "waiting"

    await run_app(work)
