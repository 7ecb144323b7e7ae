package server

import (
	"net/http"
	"strings"
)

// previewAgents are fragments of the User-Agent of link-preview fetchers
// (chat apps and social networks unfurling a pasted link) and of search
// crawlers, in lower case. A redirect asked for by one of them answers as
// usual but records no click: nobody followed the link. The list is
// short on purpose: it names the agents that fetch pasted links, matched
// as case-insensitive substrings, and a false match costs a partner a
// real click, so a fragment must not occur in a browser's User-Agent
// (in-app browsers say FBAN, FB_IAB, Telegram-Android..., not these).
// A general crawler-detection library (thousands of patterns, curl and
// HTTP clients included) would cost the hottest path more and judge
// scripts that publishers use to test their links.
var previewAgents = []string{
	"slackbot",            // Slackbot-LinkExpanding, Slackbot 1.0
	"facebookexternalhit", // Facebook, Messenger, Instagram previews
	"facebot",
	"twitterbot",
	"linkedinbot",
	"whatsapp", // WhatsApp/2.x previews (it has no in-app browser)
	"telegrambot",
	"discordbot",
	"skypeuripreview",
	"microsoftpreview", // Teams, Outlook
	"pinterestbot",
	"redditbot",
	"mastodon", // http.rb/... (Mastodon/4.x; +https://instance)
	"embedly",
	"iframely",
	"googlebot",
	"google-inspectiontool",
	"bingbot",
	"bingpreview",
	"applebot",
	"yandexbot",
	"duckduckbot",
	"baiduspider",
}

// maxAgentBytes bounds how much of a User-Agent is searched for a preview
// agent: they name themselves early, and a browser's fits too.
const maxAgentBytes = 512

// isPreviewAgent reports whether a User-Agent is one of previewAgents.
func isPreviewAgent(agent string) bool {
	if agent == "" {
		return false
	}
	agent = strings.ToLower(clipTo(agent, maxAgentBytes))
	for _, a := range previewAgents {
		if strings.Contains(agent, a) {
			return true
		}
	}
	return false
}

// unrecordedReason says why a redirect records no click ("" when it
// records one): a HEAD fetches no page, a preview agent is not a visitor.
func unrecordedReason(r *http.Request) string {
	switch {
	case r.Method == http.MethodHead:
		return reasonHead
	case isPreviewAgent(r.UserAgent()):
		return reasonBot
	}
	return ""
}

// Reasons a redirect records no click (the label of
// refledger_redirects_unrecorded_total).
const (
	reasonHead = "head"
	reasonBot  = "bot"
)
